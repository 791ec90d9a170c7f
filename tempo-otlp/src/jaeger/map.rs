//! map: what does a Jaeger span become in OTLP?
//!
//! The rules of the OpenTelemetry Collector's Jaeger translator (`jaegerproto_to_traces`,
//! `jaegerthrift_to_traces`), so that a span stored here reads back as it would from Tempo
//! behind the Collector's Jaeger receiver:
//!
//! - the process becomes the resource: `service.name` (unless empty), the process tags with
//!   their types; `hostname` becomes `host.name` and `jaeger.version` becomes
//!   `opencensus.exporterversion` (`Jaeger-<version>`), unless those are set already;
//! - spans with a process of their own (gRPC) go to a resource of their own;
//! - spans are grouped by instrumentation scope, from the `otel.scope.name` and
//!   `otel.scope.version` tags, which are removed;
//! - trace IDs are 128-bit (the high half zero for 64-bit IDs); times are nanoseconds;
//! - the parent is `parentSpanId`, or else the first `CHILD_OF` reference within the same
//!   trace; every other reference becomes a link with `opentracing.ref_type`
//!   (`child_of` or `follows_from`);
//! - the `span.kind` tag sets the kind (`client`, `server`, `producer`, `consumer`,
//!   `internal`; anything else is unspecified) and is removed;
//! - status: a boolean `error` tag set to true makes it an error (the tag is removed), with
//!   `otel.status_description` or else `http.status_message` as its message; otherwise an
//!   `otel.status_code` tag (`OK`, `ERROR`) sets it with `otel.status_description`; otherwise
//!   an `http.status_code` of 5xx (or 4xx on a client span, or outside 100-599) is an error;
//!   `otel.status_code` is always removed;
//! - `w3c.tracestate` becomes the trace state;
//! - logs become events at their timestamp, named by their `event` field (removed), with
//!   the other fields as attributes;
//! - tag types carry over: string, double, bool, 64-bit integer, bytes.

use std::collections::HashMap;

use tempo_core::model::{
    Event, InstrumentationScope, Link, Resource, ResourceSpans, ScopeSpans, Span as OtlpSpan,
    SpanKind, Status, StatusCode, Value,
};

use super::model::{Batch, Process, Span, SpanRefType, Tag, TagValue};
use crate::attrs::Attrs;

/// The service name OpenTelemetry exporters write when a resource has none; a process named
/// so gets no resource attributes.
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// Maps a Jaeger batch into OTLP resource spans: one per distinct process (the batch's,
/// and any span's own), each with its spans grouped by instrumentation scope.
///
/// ```
/// use tempo_otlp::jaeger::{Batch, Process, Span, Tag, TagValue, batch_to_resource_spans};
///
/// let batch = Batch {
///     process: Some(Process { service_name: "checkout".into(), tags: vec![] }),
///     spans: vec![Span {
///         trace_id_low: 0xabc,
///         span_id: 1,
///         operation_name: "GET /cart".into(),
///         start_time_unix_nano: 1_700_000_000_000_000_000,
///         duration_nano: 2_000_000,
///         tags: vec![Tag::new("span.kind", TagValue::String("server".into()))],
///         ..Span::default()
///     }],
/// };
/// let resource_spans = batch_to_resource_spans(batch);
/// let span = &resource_spans[0].scope_spans[0].spans[0];
/// assert_eq!(span.name, "GET /cart");
/// assert_eq!(span.kind, tempo_core::model::SpanKind::Server as i32);
/// assert_eq!(span.trace_id, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0xbc]);
/// assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, 2_000_000);
/// ```
pub fn batch_to_resource_spans(batch: Batch) -> Vec<ResourceSpans> {
    // Group spans by process: the batch's first, then each distinct process of a span.
    let mut groups: Vec<(Option<Process>, Vec<Span>)> = vec![(batch.process, Vec::new())];
    let mut by_process: HashMap<String, usize> = HashMap::new();
    for mut span in batch.spans {
        match span.process.take() {
            None => groups[0].1.push(span),
            Some(p) => {
                let key = format!("{p:?}");
                let i = *by_process.entry(key).or_insert_with(|| {
                    groups.push((Some(p), Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push(span);
            }
        }
    }
    groups
        .into_iter()
        .filter(|(p, spans)| p.is_some() || !spans.is_empty())
        .map(|(process, spans)| resource_spans(process, spans))
        .collect()
}

fn resource_spans(process: Option<Process>, spans: Vec<Span>) -> ResourceSpans {
    let mut scopes: Vec<ScopeSpans> = Vec::new();
    let mut by_scope: HashMap<(String, String), usize> = HashMap::new();
    for mut span in spans {
        let (name, version) = take_scope(&mut span.tags);
        let i = *by_scope
            .entry((name.clone(), version.clone()))
            .or_insert_with(|| {
                scopes.push(ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name,
                        version,
                        ..InstrumentationScope::default()
                    }),
                    spans: Vec::new(),
                    schema_url: String::new(),
                });
                scopes.len() - 1
            });
        scopes[i].spans.push(span_to_otlp(span));
    }
    ResourceSpans {
        resource: Some(resource(process)),
        scope_spans: scopes,
        schema_url: String::new(),
    }
}

/// Removes the `otel.scope.name` tag (and `otel.scope.version` with it) and returns them.
fn take_scope(tags: &mut Vec<Tag>) -> (String, String) {
    let mut take = |key: &str| {
        let i = tags.iter().position(|t| t.key == key)?;
        Some(match tags.remove(i).value {
            TagValue::String(s) => s,
            _ => String::new(),
        })
    };
    match take("otel.scope.name") {
        Some(name) => (name, take("otel.scope.version").unwrap_or_default()),
        None => (String::new(), String::new()),
    }
}

fn resource(process: Option<Process>) -> Resource {
    let mut attrs = Attrs::default();
    if let Some(process) = process
        && process.service_name != NO_SERVICE_NAME
    {
        if !process.service_name.is_empty() {
            attrs.put("service.name", Value::StringValue(process.service_name));
        }
        put_tags(&mut attrs, process.tags);
        if attrs.get("host.name").is_none()
            && let Some(hostname) = attrs.remove("hostname")
        {
            attrs.put("host.name", hostname);
        }
        if attrs.get("opencensus.exporterversion").is_none()
            && attrs.get("jaeger.version").is_some()
        {
            let version = attrs.get_str("jaeger.version").unwrap_or("").to_owned();
            attrs.put(
                "opencensus.exporterversion",
                Value::StringValue(format!("Jaeger-{version}")),
            );
            attrs.remove("jaeger.version");
        }
    }
    Resource {
        attributes: attrs.into_vec(),
        dropped_attributes_count: 0,
    }
}

fn value(v: TagValue) -> Value {
    match v {
        TagValue::String(s) => Value::StringValue(s),
        TagValue::Double(d) => Value::DoubleValue(d),
        TagValue::Bool(b) => Value::BoolValue(b),
        TagValue::Long(l) => Value::IntValue(l),
        TagValue::Binary(b) => Value::BytesValue(b),
    }
}

fn put_tags(attrs: &mut Attrs, tags: Vec<Tag>) {
    for tag in tags {
        attrs.put(tag.key, value(tag.value));
    }
}

#[expect(
    clippy::big_endian_bytes,
    reason = "OTLP IDs are the big-endian bytes of Jaeger's"
)]
fn trace_id(high: u64, low: u64) -> Vec<u8> {
    let mut id = high.to_be_bytes().to_vec();
    id.extend_from_slice(&low.to_be_bytes());
    id
}

#[expect(
    clippy::big_endian_bytes,
    reason = "OTLP IDs are the big-endian bytes of Jaeger's"
)]
fn span_id(id: u64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

fn kind_of(name: &str) -> SpanKind {
    match name {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => SpanKind::Unspecified,
    }
}

fn span_to_otlp(span: Span) -> OtlpSpan {
    let parent = if span.parent_span_id != 0 {
        span.parent_span_id
    } else {
        span.references
            .iter()
            .find(|r| {
                r.ref_type == SpanRefType::ChildOf
                    && r.trace_id_high == span.trace_id_high
                    && r.trace_id_low == span.trace_id_low
            })
            .map_or(0, |r| r.span_id)
    };
    let mut attrs = Attrs::default();
    put_tags(&mut attrs, span.tags);
    let mut kind = SpanKind::Unspecified;
    if attrs.get("span.kind").is_some() {
        kind = kind_of(attrs.get_str("span.kind").unwrap_or(""));
        attrs.remove("span.kind");
    }
    let status = status(&mut attrs, kind);
    let trace_state = match attrs.remove("w3c.tracestate") {
        Some(Value::StringValue(s)) => s,
        Some(_) => String::new(),
        None => String::new(),
    };
    let events = span
        .logs
        .into_iter()
        .map(|log| {
            let mut attrs = Attrs::default();
            put_tags(&mut attrs, log.fields);
            let mut name = String::new();
            if attrs.get("event").is_some() {
                name = attrs.get_str("event").unwrap_or("").to_owned();
                attrs.remove("event");
            }
            Event {
                time_unix_nano: log.timestamp_unix_nano,
                name,
                attributes: attrs.into_vec(),
                dropped_attributes_count: 0,
            }
        })
        .collect();
    let links = span
        .references
        .iter()
        .filter(|r| !(r.span_id == parent && r.ref_type == SpanRefType::ChildOf))
        .map(|r| Link {
            trace_id: trace_id(r.trace_id_high, r.trace_id_low),
            span_id: span_id(r.span_id),
            trace_state: String::new(),
            attributes: vec![tempo_core::model::KeyValue::string(
                "opentracing.ref_type",
                match r.ref_type {
                    SpanRefType::ChildOf => "child_of",
                    SpanRefType::FollowsFrom => "follows_from",
                },
            )],
            dropped_attributes_count: 0,
            flags: 0,
        })
        .collect();
    OtlpSpan {
        trace_id: trace_id(span.trace_id_high, span.trace_id_low),
        span_id: span_id(span.span_id),
        trace_state,
        parent_span_id: if parent != 0 {
            span_id(parent)
        } else {
            Vec::new()
        },
        name: span.operation_name,
        kind: kind as i32,
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.start_time_unix_nano.saturating_add(span.duration_nano),
        attributes: attrs.into_vec(),
        dropped_attributes_count: 0,
        events,
        dropped_events_count: 0,
        links,
        dropped_links_count: 0,
        status,
        flags: 0,
    }
}

/// Takes `otel.status_description` out of `attrs`.
fn take_description(attrs: &mut Attrs) -> Option<String> {
    attrs.get("otel.status_description")?;
    let message = attrs
        .get_str("otel.status_description")
        .unwrap_or("")
        .to_owned();
    attrs.remove("otel.status_description");
    Some(message)
}

/// The status the Collector derives from a span's tags (see the module's rules).
fn status(attrs: &mut Attrs, kind: SpanKind) -> Option<Status> {
    let mut code = StatusCode::Unset;
    let mut message = String::new();
    let mut exists = false;
    if matches!(attrs.get("error"), Some(Value::BoolValue(true))) {
        code = StatusCode::Error;
        attrs.remove("error");
        exists = true;
        if let Some(desc) = take_description(attrs) {
            message = desc;
        } else if let Some(msg) = attrs.get_str("http.status_message") {
            message = msg.to_owned();
        }
    }
    if attrs.get("otel.status_code").is_some() {
        if !exists {
            exists = true;
            match attrs
                .get_str("otel.status_code")
                .unwrap_or("")
                .to_ascii_uppercase()
                .as_str()
            {
                "OK" => code = StatusCode::Ok,
                "ERROR" => code = StatusCode::Error,
                _ => {}
            }
            if let Some(desc) = take_description(attrs) {
                message = desc;
            }
        }
        attrs.remove("otel.status_code");
    } else if !exists && attrs.get("http.status_code").is_some() {
        let http = match attrs.get("http.status_code") {
            Some(Value::IntValue(n)) => Some(*n),
            Some(Value::StringValue(s)) => s.parse::<i64>().ok(),
            _ => None,
        };
        if let Some(http) = http {
            let from_http = match http {
                400..=499 if kind == SpanKind::Client => StatusCode::Error,
                400..=499 if kind == SpanKind::Server => StatusCode::Unset,
                100..=399 => StatusCode::Unset,
                _ => StatusCode::Error,
            };
            if from_http != StatusCode::Unset {
                exists = true;
                code = from_http;
            }
            if let Some(msg) = attrs.get_str("http.status_message") {
                message = msg.to_owned();
            }
        }
    }
    exists.then_some(Status {
        message,
        code: code as i32,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::super::model::{Log, SpanRef};
    use super::*;
    use tempo_core::model::{AnyValue, KeyValue};

    fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    fn s(v: &str) -> Value {
        Value::StringValue(v.into())
    }

    #[test]
    fn every_field_of_the_full_batch_maps() {
        let batch = super::super::thrift::tests::full_batch();
        let rs = batch_to_resource_spans(batch);
        assert_eq!(rs.len(), 1);
        let resource = rs[0].resource.as_ref().unwrap();
        let r = &resource.attributes;
        assert_eq!(attr(r, "service.name"), Some(&s("frontend")));
        assert_eq!(attr(r, "host.name"), Some(&s("host-1")));
        assert_eq!(attr(r, "hostname"), None);
        assert_eq!(
            attr(r, "opencensus.exporterversion"),
            Some(&s("Jaeger-Node-3.19.0"))
        );
        assert_eq!(attr(r, "jaeger.version"), None);
        assert_eq!(attr(r, "ip"), Some(&s("10.0.0.1")));
        assert_eq!(attr(r, "cores"), Some(&Value::IntValue(8)));

        let spans = &rs[0].scope_spans[0].spans;
        let root = &spans[0];
        assert_eq!(root.trace_id, hex("00000000000000000123456789abcdef"));
        assert_eq!(root.span_id, hex("0000000000000001"));
        assert!(root.parent_span_id.is_empty());
        assert_eq!(root.kind, SpanKind::Server as i32);
        assert_eq!(root.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(root.end_time_unix_nano, 1_700_000_000_005_000_000);
        assert_eq!(attr(&root.attributes, "span.kind"), None);
        assert_eq!(
            attr(&root.attributes, "http.status_code"),
            Some(&Value::IntValue(200))
        );
        assert_eq!(
            attr(&root.attributes, "ratio"),
            Some(&Value::DoubleValue(0.25))
        );
        assert_eq!(
            attr(&root.attributes, "cached"),
            Some(&Value::BoolValue(false))
        );
        assert_eq!(
            attr(&root.attributes, "blob"),
            Some(&Value::BytesValue(vec![0, 1, 2, 255]))
        );
        assert_eq!(root.status, None, "a 200 leaves the status unset");
        let event = &root.events[0];
        assert_eq!(event.name, "cache miss");
        assert_eq!(event.time_unix_nano, 1_700_000_000_001_000_000);
        assert_eq!(attr(&event.attributes, "key"), Some(&s("user:1")));
        assert_eq!(
            attr(&event.attributes, "attempt"),
            Some(&Value::IntValue(2))
        );
        assert_eq!(attr(&event.attributes, "event"), None);

        let child = &spans[1];
        assert_eq!(child.trace_id, hex("ffff0000000000010123456789abcdef"));
        assert_eq!(child.span_id, hex("8000000000000002"));
        assert_eq!(child.parent_span_id, hex("0000000000000001"));
        assert_eq!(child.kind, SpanKind::Client as i32);
        assert_eq!(
            child.status,
            Some(Status {
                code: StatusCode::Error as i32,
                message: "timeout".into()
            })
        );
        assert!(child.attributes.is_empty(), "{:?}", child.attributes);
        // The CHILD_OF reference is the parent; the FOLLOWS_FROM one a link.
        assert_eq!(child.links.len(), 1);
        assert_eq!(
            child.links[0].trace_id,
            hex("0000000000000000000000000000002a")
        );
        assert_eq!(child.links[0].span_id, hex("000000000000002b"));
        assert_eq!(
            attr(&child.links[0].attributes, "opentracing.ref_type"),
            Some(&s("follows_from"))
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        ::hex::decode(s).unwrap()
    }

    fn one_span(tags: Vec<Tag>) -> OtlpSpan {
        let batch = Batch {
            process: Some(Process::default()),
            spans: vec![Span {
                trace_id_low: 1,
                span_id: 2,
                tags,
                ..Span::default()
            }],
        };
        batch_to_resource_spans(batch)
            .remove(0)
            .scope_spans
            .remove(0)
            .spans
            .remove(0)
    }

    fn code(span: &OtlpSpan) -> Option<(StatusCode, String)> {
        span.status
            .as_ref()
            .map(|s| (StatusCode::try_from(s.code).unwrap(), s.message.clone()))
    }

    #[test]
    fn status_rules() {
        let t = |k: &str, v: TagValue| Tag::new(k, v);
        let st = |v: &str| TagValue::String(v.into());
        // otel.status_code, with its description.
        let span = one_span(vec![
            t("otel.status_code", st("ok")),
            t("otel.status_description", st("fine")),
        ]);
        assert_eq!(code(&span), Some((StatusCode::Ok, "fine".into())));
        assert!(span.attributes.is_empty());
        // error=true wins over otel.status_code, which is removed anyway.
        let span = one_span(vec![
            t("error", TagValue::Bool(true)),
            t("otel.status_code", st("OK")),
            t("http.status_message", st("Bad Gateway")),
        ]);
        assert_eq!(code(&span), Some((StatusCode::Error, "Bad Gateway".into())));
        assert_eq!(attr(&span.attributes, "otel.status_code"), None);
        // A string error tag is an attribute, not a status.
        let span = one_span(vec![t("error", st("true"))]);
        assert_eq!(code(&span), None);
        assert_eq!(attr(&span.attributes, "error"), Some(&s("true")));
        let span = one_span(vec![t("error", TagValue::Bool(false))]);
        assert_eq!(code(&span), None);
        // HTTP status codes.
        let http = |kind: &str, status: TagValue| {
            code(&one_span(vec![
                t("span.kind", st(kind)),
                t("http.status_code", status),
            ]))
        };
        assert_eq!(
            http("server", TagValue::Long(503)),
            Some((StatusCode::Error, String::new()))
        );
        assert_eq!(http("server", TagValue::Long(404)), None);
        assert_eq!(
            http("client", st("404")),
            Some((StatusCode::Error, String::new()))
        );
        assert_eq!(http("client", TagValue::Long(302)), None);
        assert_eq!(
            http("client", TagValue::Long(99)),
            Some((StatusCode::Error, String::new()))
        );
        assert_eq!(http("client", TagValue::Bool(true)), None);
    }

    #[test]
    fn kinds_scopes_tracestate_and_processes() {
        let st = |v: &str| TagValue::String(v.into());
        for (name, kind) in [
            ("client", SpanKind::Client),
            ("server", SpanKind::Server),
            ("producer", SpanKind::Producer),
            ("consumer", SpanKind::Consumer),
            ("internal", SpanKind::Internal),
            ("other", SpanKind::Unspecified),
        ] {
            let span = one_span(vec![Tag::new("span.kind", st(name))]);
            assert_eq!(span.kind, kind as i32, "{name}");
            assert!(span.attributes.is_empty());
        }
        let span = one_span(vec![Tag::new("w3c.tracestate", st("a=b"))]);
        assert_eq!(span.trace_state, "a=b");

        let batch = Batch {
            process: Some(Process {
                service_name: "svc".into(),
                tags: vec![],
            }),
            spans: vec![
                Span {
                    tags: vec![
                        Tag::new("otel.scope.name", st("lib")),
                        Tag::new("otel.scope.version", st("1.0")),
                    ],
                    ..Span::default()
                },
                Span::default(),
                Span {
                    process: Some(Process {
                        service_name: "other".into(),
                        tags: vec![],
                    }),
                    logs: vec![Log {
                        timestamp_unix_nano: 5,
                        fields: vec![Tag::new("message", st("hi"))],
                    }],
                    references: vec![SpanRef {
                        ref_type: SpanRefType::ChildOf,
                        trace_id_high: 0,
                        trace_id_low: 0,
                        span_id: 9,
                    }],
                    ..Span::default()
                },
            ],
        };
        let rs = batch_to_resource_spans(batch);
        assert_eq!(rs.len(), 2);
        let scopes = &rs[0].scope_spans;
        assert_eq!(scopes.len(), 2);
        let scope = scopes[0].scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("lib", "1.0")
        );
        assert!(scopes[0].spans[0].attributes.is_empty());
        let other = &rs[1];
        assert_eq!(
            other.resource.as_ref().unwrap().attributes,
            vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(s("other"))
                })
            }]
        );
        let span = &other.scope_spans[0].spans[0];
        // The parent from the reference, which is then no link.
        assert_eq!(span.parent_span_id, hex("0000000000000009"));
        assert!(span.links.is_empty());
        assert_eq!(span.events[0].name, "");
        assert_eq!(attr(&span.events[0].attributes, "message"), Some(&s("hi")));
    }
}
