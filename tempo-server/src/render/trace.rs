//! trace: what bytes does Tempo send back for a trace by ID?
//!
//! Tempo answers `GET /api/traces/{id}` (v1) and `GET /api/v2/traces/{id}` (v2) in two formats:
//!
//! - JSON, with the rules of [`jsonpb`](super::jsonpb);
//! - Protobuf (`Accept: application/protobuf`): for v1 Tempo's `Trace` message, whose wire
//!   format is the one of OTLP's `TracesData`; for v2 Tempo's `TraceByIDResponse`.
//!
//! Two shapes differ from a plain OTLP encoding: the list of resource spans is named
//! `batches` in v1 and `resourceSpans` in v2, and a span's `status` is always written
//! (`"status":{}` when unset), because Tempo's storage always hands back a status.

use prost::Message as _;
use tempo_core::model::{
    Event, InstrumentationScope, Link, Resource, ResourceSpans, ScopeSpans, Span, SpanKind, Status,
    StatusCode, TracesData,
};

use super::jsonpb::JsonWriter;

/// Tempo's `TraceByIDResponse`: the body of `GET /api/v2/traces/{id}` in protobuf.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TraceByIdResponse {
    /// The trace (Tempo's `Trace`, wire-identical to `TracesData`); empty when not found.
    #[prost(message, optional, tag = "1")]
    pub(crate) trace: Option<TracesData>,
    /// What the query cost.
    #[prost(message, optional, tag = "2")]
    pub(crate) metrics: Option<TraceByIdMetrics>,
    /// Whether the trace is complete, as [`PartialStatus`] values.
    #[prost(enumeration = "PartialStatus", tag = "3")]
    pub(crate) status: i32,
    /// Why the trace is partial, when it is.
    #[prost(string, tag = "4")]
    pub(crate) message: String,
}

/// Tempo's `TraceByIDMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TraceByIdMetrics {
    /// Bytes read to answer the query.
    #[prost(uint64, tag = "1")]
    pub(crate) inspected_bytes: u64,
}

/// Tempo's `TraceByIDResponse.PartialStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum PartialStatus {
    /// The whole trace was returned.
    Complete = 0,
    /// Only part of the trace was returned (for example, it exceeded the size limit).
    Partial = 1,
}

impl PartialStatus {
    /// The enum name, as in JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PartialStatus::Complete => "COMPLETE",
            PartialStatus::Partial => "PARTIAL",
        }
    }
}

/// The v1 JSON body: `{"batches":[...]}`, or `{}` for a trace without resource spans.
///
/// v1 answers an unknown trace with a 404 and an empty body; that choice is the caller's.
pub(crate) fn trace_v1_json(data: &TracesData) -> Vec<u8> {
    let mut w = JsonWriter::with_capacity(json_capacity_hint(Some(data)));
    w.traces_data(data, "batches");
    w.finish()
}

/// The v2 JSON body, Tempo's `TraceByIDResponse`:
/// `{"trace":{"resourceSpans":[...]},"metrics":{...}}`, plus `"status":"PARTIAL"` and
/// `"message"` when `partial_message` is given.
///
/// `None` is a trace that was not found, which v2 answers with a 200 and
/// `{"trace":{},"metrics":{}}`. `metrics` is `{"inspectedBytes":"N"}` when N is not zero.
pub(crate) fn trace_v2_json(
    data: Option<&TracesData>,
    partial_message: Option<&str>,
    inspected_bytes: u64,
) -> Vec<u8> {
    let mut w = JsonWriter::with_capacity(json_capacity_hint(data));
    let mut obj = w.begin_object();
    obj.key(&mut w, "trace");
    match data {
        Some(data) => w.traces_data(data, "resourceSpans"),
        None => w.push_str("{}"),
    }
    obj.key(&mut w, "metrics");
    let mut metrics = w.begin_object();
    if inspected_bytes != 0 {
        metrics.key(&mut w, "inspectedBytes");
        w.quoted_u64(inspected_bytes);
    }
    metrics.end(&mut w);
    if let Some(message) = partial_message {
        obj.key(&mut w, "status");
        w.raw_string(PartialStatus::Partial.name());
        if !message.is_empty() {
            obj.key(&mut w, "message");
            w.string(message);
        }
    }
    obj.end(&mut w);
    w.finish()
}

/// The v1 protobuf body: Tempo's `Trace` message, whose only field (1) is the repeated
/// resource spans, so that it is byte for byte the encoding of `TracesData`.
pub(crate) fn trace_v1_proto(data: &TracesData) -> Vec<u8> {
    data.encode_to_vec()
}

/// The v2 protobuf body: Tempo's `TraceByIDResponse`, with the same meaning of the arguments
/// as [`trace_v2_json`]. The trace and metrics messages are always present, empty when there
/// is nothing to say, as in the JSON form.
///
/// Encodes the borrowed trace in place, without first copying it into a
/// [`TraceByIdResponse`]; the bytes are the same as that message's encoding.
pub(crate) fn trace_v2_proto(
    data: Option<&TracesData>,
    partial_message: Option<&str>,
    inspected_bytes: u64,
) -> Vec<u8> {
    let empty = TracesData::default();
    let trace = data.unwrap_or(&empty);
    // Fields 2 to 4; field 1 is written first from the borrowed trace.
    let rest = TraceByIdResponse {
        trace: None,
        metrics: Some(TraceByIdMetrics { inspected_bytes }),
        status: match partial_message {
            Some(_) => PartialStatus::Partial as i32,
            None => PartialStatus::Complete as i32,
        },
        message: partial_message.unwrap_or_default().to_owned(),
    };
    let mut buf =
        Vec::with_capacity(prost::encoding::message::encoded_len(1, trace) + rest.encoded_len());
    prost::encoding::message::encode(1, trace, &mut buf);
    rest.encode_raw(&mut buf);
    buf
}

/// A rough size for the JSON text: base64, field names and quoting make it about twice the
/// protobuf size.
fn json_capacity_hint(data: Option<&TracesData>) -> usize {
    data.map_or(0, |d| d.encoded_len().saturating_mul(2)) + 64
}

/// The messages of a trace, on the shared writer.
impl JsonWriter {
    /// `{"<list_name>":[...]}`, or `{}` when there are no resource spans.
    fn traces_data(&mut self, data: &TracesData, list_name: &str) {
        let mut obj = self.begin_object();
        if !data.resource_spans.is_empty() {
            obj.key(self, list_name);
            self.array(&data.resource_spans, JsonWriter::resource_spans);
        }
        obj.end(self);
    }

    fn resource_spans(&mut self, rs: &ResourceSpans) {
        let mut obj = self.begin_object();
        if let Some(resource) = &rs.resource {
            obj.key(self, "resource");
            self.resource(resource);
        }
        if !rs.scope_spans.is_empty() {
            obj.key(self, "scopeSpans");
            self.array(&rs.scope_spans, JsonWriter::scope_spans);
        }
        if !rs.schema_url.is_empty() {
            obj.key(self, "schemaUrl");
            self.string(&rs.schema_url);
        }
        obj.end(self);
    }

    fn resource(&mut self, resource: &Resource) {
        let mut obj = self.begin_object();
        self.attributes(
            &mut obj,
            &resource.attributes,
            resource.dropped_attributes_count,
        );
        obj.end(self);
    }

    fn scope_spans(&mut self, ss: &ScopeSpans) {
        let mut obj = self.begin_object();
        if let Some(scope) = &ss.scope {
            obj.key(self, "scope");
            self.scope(scope);
        }
        if !ss.spans.is_empty() {
            obj.key(self, "spans");
            self.array(&ss.spans, JsonWriter::span);
        }
        if !ss.schema_url.is_empty() {
            obj.key(self, "schemaUrl");
            self.string(&ss.schema_url);
        }
        obj.end(self);
    }

    fn scope(&mut self, scope: &InstrumentationScope) {
        let mut obj = self.begin_object();
        if !scope.name.is_empty() {
            obj.key(self, "name");
            self.string(&scope.name);
        }
        if !scope.version.is_empty() {
            obj.key(self, "version");
            self.string(&scope.version);
        }
        self.attributes(&mut obj, &scope.attributes, scope.dropped_attributes_count);
        obj.end(self);
    }

    /// Fields in the order of their declaration in `trace.proto` (which Go's generated struct
    /// and so jsonpb follow): `flags` (field 16) is declared right after `parentSpanId`.
    fn span(&mut self, span: &Span) {
        let mut obj = self.begin_object();
        self.bytes_field(&mut obj, "traceId", &span.trace_id);
        self.bytes_field(&mut obj, "spanId", &span.span_id);
        self.string_field(&mut obj, "traceState", &span.trace_state);
        self.bytes_field(&mut obj, "parentSpanId", &span.parent_span_id);
        self.u32_field(&mut obj, "flags", span.flags);
        self.string_field(&mut obj, "name", &span.name);
        if span.kind != 0 {
            obj.key(self, "kind");
            match SpanKind::try_from(span.kind) {
                Ok(kind) => self.raw_string(kind.otlp_name()),
                // jsonpb writes an enum value it has no name for as a bare number.
                Err(_) => self.i64(i64::from(span.kind)),
            }
        }
        self.fixed64_field(&mut obj, "startTimeUnixNano", span.start_time_unix_nano);
        self.fixed64_field(&mut obj, "endTimeUnixNano", span.end_time_unix_nano);
        self.attributes(&mut obj, &span.attributes, span.dropped_attributes_count);
        if !span.events.is_empty() {
            obj.key(self, "events");
            self.array(&span.events, JsonWriter::event);
        }
        self.u32_field(&mut obj, "droppedEventsCount", span.dropped_events_count);
        if !span.links.is_empty() {
            obj.key(self, "links");
            self.array(&span.links, JsonWriter::link);
        }
        self.u32_field(&mut obj, "droppedLinksCount", span.dropped_links_count);
        obj.key(self, "status");
        self.status(span.status.as_ref());
        obj.end(self);
    }

    fn event(&mut self, event: &Event) {
        let mut obj = self.begin_object();
        self.fixed64_field(&mut obj, "timeUnixNano", event.time_unix_nano);
        self.string_field(&mut obj, "name", &event.name);
        self.attributes(&mut obj, &event.attributes, event.dropped_attributes_count);
        obj.end(self);
    }

    fn link(&mut self, link: &Link) {
        let mut obj = self.begin_object();
        self.bytes_field(&mut obj, "traceId", &link.trace_id);
        self.bytes_field(&mut obj, "spanId", &link.span_id);
        self.string_field(&mut obj, "traceState", &link.trace_state);
        self.attributes(&mut obj, &link.attributes, link.dropped_attributes_count);
        self.u32_field(&mut obj, "flags", link.flags);
        obj.end(self);
    }

    /// Always an object: `{}` when the span has no status or an unset one.
    fn status(&mut self, status: Option<&Status>) {
        let mut obj = self.begin_object();
        if let Some(status) = status {
            self.string_field(&mut obj, "message", &status.message);
            if status.code != 0 {
                obj.key(self, "code");
                match StatusCode::try_from(status.code) {
                    Ok(code) => self.raw_string(code.otlp_name()),
                    Err(_) => self.i64(i64::from(status.code)),
                }
            }
        }
        obj.end(self);
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use tempo_core::model::{AnyValue, ArrayValue, KeyValue, KeyValueList, Value};

    use crate::render::json_text as text;

    fn span(name: &str) -> Span {
        Span {
            trace_id: hex::decode("5b8efff798038103d269b633813fc700").unwrap(),
            span_id: hex::decode("eee19b7ec3c1b100").unwrap(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn one_span(span: Span) -> TracesData {
        TracesData {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue::string("service.name", "my.service")],
                    dropped_attributes_count: 0,
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "my.library".into(),
                        version: "1.0.0".into(),
                        ..Default::default()
                    }),
                    spans: vec![span],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    /// Tempo's own documented example answer, byte for byte.
    #[test]
    fn v1_matches_tempo_reference_output() {
        let data = one_span(Span {
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_689_969_302_000_000_000,
            end_time_unix_nano: 1_689_970_000_000_000_000,
            attributes: vec![KeyValue::string("my.span.attr", "some value")],
            ..span("I am a span!")
        });
        assert_eq!(
            text(trace_v1_json(&data)),
            r#"{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},"scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0"},"spans":[{"traceId":"W47/95gDgQPSabYzgT/HAA==","spanId":"7uGbfsPBsQA=","name":"I am a span!","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1689969302000000000","endTimeUnixNano":"1689970000000000000","attributes":[{"key":"my.span.attr","value":{"stringValue":"some value"}}],"status":{}}]}]}]}"#
        );
    }

    #[test]
    fn v1_golden_with_events_links_status_and_parent() {
        let root = Span {
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_250_000_000,
            attributes: vec![KeyValue::int("http.response.status_code", 500)],
            events: vec![Event {
                time_unix_nano: 1_700_000_000_100_000_000,
                name: "exception".into(),
                attributes: vec![KeyValue::string("exception.type", "IOError")],
                dropped_attributes_count: 0,
            }],
            links: vec![Link {
                trace_id: vec![0x11; 16],
                span_id: vec![0x22; 8],
                trace_state: "vendor=1".into(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
                flags: 1,
            }],
            status: Some(Status {
                message: "boom".into(),
                code: StatusCode::Error as i32,
            }),
            flags: 0x101,
            ..span("GET /cart")
        };
        let child = Span {
            span_id: vec![0x33; 8],
            parent_span_id: hex::decode("eee19b7ec3c1b100").unwrap(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: 1_700_000_000_010_000_000,
            end_time_unix_nano: 1_700_000_000_020_000_000,
            dropped_attributes_count: 2,
            status: Some(Status {
                message: String::new(),
                code: StatusCode::Ok as i32,
            }),
            ..span("SELECT")
        };
        let mut data = one_span(root);
        data.resource_spans[0].scope_spans[0].spans.push(child);
        data.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.21.0".into();
        let expected = concat!(
            r#"{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},"#,
            r#""scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0"},"spans":["#,
            r#"{"traceId":"W47/95gDgQPSabYzgT/HAA==","spanId":"7uGbfsPBsQA=","flags":257,"name":"GET /cart","#,
            r#""kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","#,
            r#""attributes":[{"key":"http.response.status_code","value":{"intValue":"500"}}],"#,
            r#""events":[{"timeUnixNano":"1700000000100000000","name":"exception","attributes":[{"key":"exception.type","value":{"stringValue":"IOError"}}]}],"#,
            r#""links":[{"traceId":"EREREREREREREREREREREQ==","spanId":"IiIiIiIiIiI=","traceState":"vendor=1","flags":1}],"#,
            r#""status":{"message":"boom","code":"STATUS_CODE_ERROR"}},"#,
            r#"{"traceId":"W47/95gDgQPSabYzgT/HAA==","spanId":"MzMzMzMzMzM=","parentSpanId":"7uGbfsPBsQA=","name":"SELECT","#,
            r#""kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"1700000000010000000","endTimeUnixNano":"1700000000020000000","#,
            r#""droppedAttributesCount":2,"status":{"code":"STATUS_CODE_OK"}}]}],"#,
            r#""schemaUrl":"https://opentelemetry.io/schemas/1.21.0"}]}"#,
        );
        assert_eq!(text(trace_v1_json(&data)), expected);
    }

    #[test]
    fn status_is_always_written() {
        for status in [
            None,
            Some(Status::default()),
            Some(Status {
                message: String::new(),
                code: StatusCode::Unset as i32,
            }),
        ] {
            let data = one_span(Span {
                status,
                ..span("s")
            });
            let json = text(trace_v1_json(&data));
            assert!(json.contains(r#""name":"s","status":{}}"#), "{json}");
        }
    }

    #[test]
    fn empty_parts_are_left_out_but_present_messages_are_written() {
        assert_eq!(text(trace_v1_json(&TracesData::default())), "{}");
        let data = TracesData {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource::default()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope::default()),
                    spans: vec![Span::default()],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(
            text(trace_v1_json(&data)),
            r#"{"batches":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"status":{}}]}]}]}"#
        );
        let data = TracesData {
            resource_spans: vec![ResourceSpans::default()],
        };
        assert_eq!(text(trace_v1_json(&data)), r#"{"batches":[{}]}"#);
    }

    #[test]
    fn attribute_values_of_every_type() {
        let kv = |key: &str, value: Option<Value>| KeyValue {
            key: key.into(),
            value: Some(AnyValue { value }),
        };
        let data = one_span(Span {
            attributes: vec![
                kv("s", Some(Value::StringValue(String::new()))),
                kv("b", Some(Value::BoolValue(false))),
                kv("t", Some(Value::BoolValue(true))),
                kv("i", Some(Value::IntValue(0))),
                kv("n", Some(Value::IntValue(i64::MIN))),
                kv("d", Some(Value::DoubleValue(0.0))),
                kv("f", Some(Value::DoubleValue(1.5))),
                kv("x", Some(Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef]))),
                kv(
                    "a",
                    Some(Value::ArrayValue(ArrayValue {
                        values: vec![
                            AnyValue {
                                value: Some(Value::IntValue(1)),
                            },
                            AnyValue { value: None },
                        ],
                    })),
                ),
                kv("ea", Some(Value::ArrayValue(ArrayValue::default()))),
                kv(
                    "k",
                    Some(Value::KvlistValue(KeyValueList {
                        values: vec![KeyValue::string("inner", "v")],
                    })),
                ),
                kv("e", None),
                KeyValue {
                    key: "none".into(),
                    value: None,
                },
            ],
            ..span("s")
        });
        let json = text(trace_v1_json(&data));
        let expected = concat!(
            r#""attributes":["#,
            r#"{"key":"s","value":{"stringValue":""}},"#,
            r#"{"key":"b","value":{"boolValue":false}},"#,
            r#"{"key":"t","value":{"boolValue":true}},"#,
            r#"{"key":"i","value":{"intValue":"0"}},"#,
            r#"{"key":"n","value":{"intValue":"-9223372036854775808"}},"#,
            r#"{"key":"d","value":{"doubleValue":0}},"#,
            r#"{"key":"f","value":{"doubleValue":1.5}},"#,
            r#"{"key":"x","value":{"bytesValue":"3q2+7w=="}},"#,
            r#"{"key":"a","value":{"arrayValue":{"values":[{"intValue":"1"},{}]}}},"#,
            r#"{"key":"ea","value":{"arrayValue":{}}},"#,
            r#"{"key":"k","value":{"kvlistValue":{"values":[{"key":"inner","value":{"stringValue":"v"}}]}}},"#,
            r#"{"key":"e","value":{}},"#,
            r#"{"key":"none"}],"#,
        );
        assert!(json.contains(expected), "{json}");
    }

    #[test]
    fn strings_are_escaped_as_go_does() {
        let nasty = "q\"b\\s/ <a href='x'>&amp;</a>\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} é ✓ \u{2028}\u{2029} 😀";
        let data = one_span(Span {
            attributes: vec![KeyValue::string(nasty, nasty)],
            ..span(nasty)
        });
        let json = text(trace_v1_json(&data));
        let escaped =
            r#""q\"b\\s/ \u003ca href='x'\u003e\u0026amp;\u003c/a\u003e\n\r\t\b\f\u0000\u001f"#
                .to_owned()
                + "\u{7f} é ✓ \\u2028\\u2029 😀\"";
        assert!(json.contains(&format!(r#""name":{escaped}"#)), "{json}");
        assert!(
            json.contains(&format!(
                r#"{{"key":{escaped},"value":{{"stringValue":{escaped}}}}}"#
            )),
            "{json}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            parsed["batches"][0]["scopeSpans"][0]["spans"][0]["name"],
            nasty
        );
    }

    #[test]
    fn unknown_enum_values_are_numbers() {
        let data = one_span(Span {
            kind: 9,
            status: Some(Status {
                message: String::new(),
                code: 7,
            }),
            ..span("s")
        });
        let json = text(trace_v1_json(&data));
        assert!(json.contains(r#""kind":9,"#), "{json}");
        assert!(json.contains(r#""status":{"code":7}"#), "{json}");
    }

    #[test]
    fn v2_shapes() {
        assert_eq!(
            text(trace_v2_json(None, None, 0)),
            r#"{"trace":{},"metrics":{}}"#
        );
        assert_eq!(
            text(trace_v2_json(None, None, 42)),
            r#"{"trace":{},"metrics":{"inspectedBytes":"42"}}"#
        );
        let data = one_span(span("s"));
        let complete = text(trace_v2_json(Some(&data), None, 1234));
        assert!(
            complete.starts_with(r#"{"trace":{"resourceSpans":[{"resource":"#),
            "{complete}"
        );
        assert!(
            complete.ends_with(r#""status":{}}]}]}]},"metrics":{"inspectedBytes":"1234"}}"#),
            "{complete}"
        );
        let partial = text(trace_v2_json(
            Some(&data),
            Some("trace exceeds max size <5MB>"),
            0,
        ));
        assert!(
            partial.ends_with(
                r#"]}]}]},"metrics":{},"status":"PARTIAL","message":"trace exceeds max size \u003c5MB\u003e"}"#
            ),
            "{partial}"
        );
        assert!(
            text(trace_v2_json(Some(&data), Some(""), 0))
                .ends_with(r#""metrics":{},"status":"PARTIAL"}"#)
        );
        // The trace part of v2 is v1's with the list renamed.
        let v1 = text(trace_v1_json(&data));
        assert!(complete.contains(&v1["{\"batches\"".len()..v1.len() - 1]));
    }

    /// A small deterministic generator (xorshift64*), so that the test needs no extra crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bytes(&mut self, max: u64) -> Vec<u8> {
            (0..self.below(max + 1))
                .map(|_| self.next() as u8)
                .collect()
        }
        fn string(&mut self) -> String {
            const PICKS: &[char] = &[
                'a', 'Z', '0', ' ', '"', '\\', '/', '<', '>', '&', '\n', '\t', '\u{0}', '\u{1f}',
                '\u{7f}', 'é', '\u{2028}', '\u{2029}', '\u{fffd}', '😀',
            ];
            (0..self.below(12))
                .map(|_| PICKS[self.below(PICKS.len() as u64) as usize])
                .collect()
        }
        fn value(&mut self, depth: u32) -> AnyValue {
            let value = match self.below(if depth > 2 { 6 } else { 8 }) {
                0 => None,
                1 => Some(Value::StringValue(self.string())),
                2 => Some(Value::BoolValue(self.below(2) == 1)),
                3 => Some(Value::IntValue(self.next() as i64)),
                4 => Some(Value::DoubleValue(match self.below(4) {
                    0 => f64::from_bits(self.next()),
                    1 => self.next() as f64 / 7.0,
                    2 => -1.0 / (self.below(1000) as f64 + 1.0),
                    _ => 0.0,
                })),
                5 => Some(Value::BytesValue(self.bytes(20))),
                6 => Some(Value::ArrayValue(ArrayValue {
                    values: (0..self.below(3)).map(|_| self.value(depth + 1)).collect(),
                })),
                _ => Some(Value::KvlistValue(KeyValueList {
                    values: self.attributes(depth + 1),
                })),
            };
            AnyValue { value }
        }
        fn attributes(&mut self, depth: u32) -> Vec<KeyValue> {
            (0..self.below(4))
                .map(|_| KeyValue {
                    key: self.string(),
                    value: (self.below(5) != 0).then(|| self.value(depth)),
                })
                .collect()
        }
        fn span(&mut self) -> Span {
            Span {
                trace_id: self.bytes(16),
                span_id: self.bytes(8),
                trace_state: self.string(),
                parent_span_id: self.bytes(8),
                name: self.string(),
                kind: self.below(8) as i32,
                start_time_unix_nano: self.next(),
                end_time_unix_nano: self.next(),
                attributes: self.attributes(0),
                dropped_attributes_count: self.below(3) as u32,
                events: (0..self.below(3))
                    .map(|_| Event {
                        time_unix_nano: self.next(),
                        name: self.string(),
                        attributes: self.attributes(0),
                        dropped_attributes_count: self.below(2) as u32,
                    })
                    .collect(),
                dropped_events_count: self.below(2) as u32,
                links: (0..self.below(3))
                    .map(|_| Link {
                        trace_id: self.bytes(16),
                        span_id: self.bytes(8),
                        trace_state: self.string(),
                        attributes: self.attributes(0),
                        dropped_attributes_count: self.below(2) as u32,
                        flags: self.next() as u32,
                    })
                    .collect(),
                dropped_links_count: self.below(2) as u32,
                status: (self.below(3) != 0).then(|| Status {
                    message: self.string(),
                    code: self.below(4) as i32,
                }),
                flags: self.next() as u32,
            }
        }
    }

    /// Random traces: the output always parses, and strings, IDs and 64-bit numbers read
    /// back as they went in.
    #[test]
    fn random_traces_render_to_valid_json() {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let data = TracesData {
                resource_spans: (0..rng.below(3))
                    .map(|_| ResourceSpans {
                        resource: (rng.below(4) != 0).then(|| Resource {
                            attributes: rng.attributes(0),
                            dropped_attributes_count: rng.below(2) as u32,
                        }),
                        scope_spans: (0..rng.below(3))
                            .map(|_| ScopeSpans {
                                scope: (rng.below(4) != 0).then(|| InstrumentationScope {
                                    name: rng.string(),
                                    version: rng.string(),
                                    attributes: rng.attributes(0),
                                    dropped_attributes_count: 0,
                                }),
                                spans: (0..rng.below(4)).map(|_| rng.span()).collect(),
                                schema_url: rng.string(),
                            })
                            .collect(),
                        schema_url: rng.string(),
                    })
                    .collect(),
            };
            let v1: serde_json::Value = serde_json::from_slice(&trace_v1_json(&data)).unwrap();
            let v2: serde_json::Value =
                serde_json::from_slice(&trace_v2_json(Some(&data), Some("partial"), 5)).unwrap();
            assert_eq!(v2["trace"]["resourceSpans"], v1["batches"]);
            let spans = data
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans);
            let mut i = 0;
            for (r, rs) in data.resource_spans.iter().enumerate() {
                for (s, ss) in rs.scope_spans.iter().enumerate() {
                    for (k, span) in ss.spans.iter().enumerate() {
                        let json = &v1["batches"][r]["scopeSpans"][s]["spans"][k];
                        let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
                        assert_eq!(text(&json["name"]), span.name);
                        assert_eq!(
                            STANDARD.decode(text(&json["traceId"])).unwrap(),
                            span.trace_id
                        );
                        let start = text(&json["startTimeUnixNano"]);
                        assert_eq!(start.parse::<u64>().unwrap_or(0), span.start_time_unix_nano);
                        for (a, kv) in span.attributes.iter().enumerate() {
                            let attr = &json["attributes"][a];
                            assert_eq!(text(&attr["key"]), kv.key);
                            match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(Value::StringValue(v)) => {
                                    assert_eq!(&text(&attr["value"]["stringValue"]), v)
                                }
                                Some(Value::IntValue(v)) => assert_eq!(
                                    text(&attr["value"]["intValue"]).parse::<i64>().unwrap(),
                                    *v
                                ),
                                Some(Value::DoubleValue(v)) if v.is_finite() => {
                                    // serde_json's default parser may be off by one ulp.
                                    let read = attr["value"]["doubleValue"].as_f64().unwrap();
                                    assert!((read - v).abs() <= v.abs() * 1e-15, "{read} {v}");
                                }
                                _ => {}
                            }
                        }
                        i += 1;
                    }
                }
            }
            assert_eq!(i, spans.count());
        }
    }

    #[test]
    fn v1_proto_round_trips() {
        let data = one_span(Span {
            attributes: vec![KeyValue::int("n", -1)],
            ..span("s")
        });
        let bytes = trace_v1_proto(&data);
        assert_eq!(TracesData::decode(bytes.as_slice()).unwrap(), data);
    }

    #[test]
    fn v2_proto_round_trips_and_matches_the_derived_encoding() {
        let data = one_span(span("s"));
        let cases = [
            (Some(&data), None, 0),
            (Some(&data), Some("too big"), 99),
            (Some(&data), Some(""), 1 << 40),
            (None, None, 0),
            (None, None, 7),
        ];
        for (trace, partial, inspected) in cases {
            let bytes = trace_v2_proto(trace, partial, inspected);
            let decoded = TraceByIdResponse::decode(bytes.as_slice()).unwrap();
            let expected = TraceByIdResponse {
                trace: Some(trace.cloned().unwrap_or_default()),
                metrics: Some(TraceByIdMetrics {
                    inspected_bytes: inspected,
                }),
                status: if partial.is_some() {
                    PartialStatus::Partial as i32
                } else {
                    PartialStatus::Complete as i32
                },
                message: partial.unwrap_or_default().to_owned(),
            };
            assert_eq!(decoded, expected);
            assert_eq!(bytes, expected.encode_to_vec());
        }
        // Not found: an empty trace and empty metrics, as `{"trace":{},"metrics":{}}`.
        assert_eq!(trace_v2_proto(None, None, 0), [0x0a, 0x00, 0x12, 0x00]);
    }
}
