//! map: what does a Zipkin span become in OTLP?
//!
//! The rules of the OpenTelemetry Collector's Zipkin v2 translator (`zipkinv2.ToTranslator`),
//! so that a span stored here reads back as it would from Tempo behind the Collector's Zipkin
//! receiver:
//!
//! - the local endpoint's service name becomes the resource's `service.name`; tags that are
//!   resource attributes by OpenTelemetry's conventions (`host.*`, `k8s.*`, `service.*`,
//!   `telemetry.sdk.*`, `deployment.environment`, ...) move to the resource; spans are grouped
//!   by resource, then by instrumentation scope (`otel.scope.name`/`otel.library.name` and
//!   their `version` tags, removed);
//! - 64-bit trace IDs become 128-bit with the high half zero; microseconds become
//!   nanoseconds; a span without a timestamp starts at 0 and gets
//!   `otel.zipkin.absentField.startTime = true`;
//! - the kind maps one to one (`CLIENT`, `SERVER`, `PRODUCER`, `CONSUMER`); without one, a
//!   `span.kind` tag of `internal` makes it internal (the tag is removed either way);
//! - `otel.status_code` (`STATUS_CODE_OK`, `OK`, ...) and `otel.status_description` set the
//!   status; an `error` tag makes it an error (removed) and, when its value is a message
//!   rather than `true` and no description was given, that message is the status message;
//! - `w3c.tracestate` becomes the trace state; a parent ID equal to the span's own is none;
//! - the local endpoint's address becomes `net.host.ip` and `net.host.port`; the remote
//!   endpoint becomes `peer.service`, `net.peer.ip` and `net.peer.port`;
//! - annotations become events named by their value (`name|{json attributes}|dropped`, as
//!   the Collector writes them, is read back into a name and attributes);
//! - tags stay strings. A `shared` server span keeps the client's span ID: the two are told
//!   apart by their kind, which the store keeps both by.

use std::collections::HashMap;

use tempo_core::model::{
    Event, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span as OtlpSpan,
    SpanKind, Status, StatusCode, Value,
};

use super::model::{Endpoint, Kind, Span};
use crate::attrs::Attrs;

/// Tag keys that are resource attributes, besides the prefixes in [`RESOURCE_PREFIXES`].
const RESOURCE_KEYS: &[&str] = &[
    "deployment.environment",
    "deployment.environment.name",
    "faas.name",
    "faas.id",
    "faas.version",
    "faas.instance",
    "faas.max_memory",
    "opencensus.starttime",
    "opencensus.exporterversion",
    "opencensus.resourcetype",
];

/// Tag key prefixes that are resource attributes.
const RESOURCE_PREFIXES: &[&str] = &[
    "service.",
    "telemetry.sdk.",
    "telemetry.auto.",
    "host.",
    "os.",
    "process.",
    "container.",
    "k8s.",
    "cloud.",
    "device.",
    "webengine.",
    "aws.ecs.",
    "aws.eks.",
    "aws.log.",
];

fn is_resource_key(key: &str) -> bool {
    RESOURCE_KEYS.contains(&key) || RESOURCE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Maps Zipkin v2 spans into OTLP resource spans, grouped by resource (the local service and
/// resource tags), then by instrumentation scope.
///
/// ```
/// use tempo_otlp::zipkin::{decode_json_v2, spans_to_resource_spans};
///
/// let body = br#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","name":"get",
///     "kind":"CLIENT","timestamp":1556604172355737,"duration":1431,
///     "localEndpoint":{"serviceName":"frontend"},
///     "remoteEndpoint":{"serviceName":"backend","port":9000},"tags":{"error":"timeout"}}]"#;
/// let resource_spans = spans_to_resource_spans(decode_json_v2(body)?);
/// let span = &resource_spans[0].scope_spans[0].spans[0];
/// assert_eq!(span.kind, tempo_core::model::SpanKind::Client as i32);
/// assert_eq!(span.start_time_unix_nano, 1_556_604_172_355_737_000);
/// let status = span.status.as_ref().unwrap();
/// assert_eq!(status.message, "timeout");
/// assert!(span.attributes.iter().any(|kv| kv.key == "peer.service"));
/// # Ok::<(), tempo_otlp::zipkin::ZipkinError>(())
/// ```
pub fn spans_to_resource_spans(spans: Vec<Span>) -> Vec<ResourceSpans> {
    let mut resources: Vec<ResourceSpans> = Vec::new();
    let mut by_resource: HashMap<String, usize> = HashMap::new();
    let mut by_scope: HashMap<(usize, String, String), usize> = HashMap::new();
    for mut span in spans {
        let service = span
            .local_endpoint
            .as_ref()
            .map(|e| e.service_name.clone())
            .unwrap_or_default();
        let mut resource_tags: Vec<(String, String)> = Vec::new();
        span.tags.retain(|k, v| {
            if is_resource_key(k) {
                resource_tags.push((k.clone(), std::mem::take(v)));
                false
            } else {
                true
            }
        });
        let key = format!("{service:?}{resource_tags:?}");
        let r = *by_resource.entry(key).or_insert_with(|| {
            let mut attrs = Attrs::default();
            if !service.is_empty() {
                attrs.put("service.name", Value::StringValue(service.clone()));
            }
            for (k, v) in &resource_tags {
                attrs.put(k.clone(), Value::StringValue(v.clone()));
            }
            resources.push(ResourceSpans {
                resource: Some(Resource {
                    attributes: attrs.into_vec(),
                    dropped_attributes_count: 0,
                }),
                scope_spans: Vec::new(),
                schema_url: String::new(),
            });
            resources.len() - 1
        });
        let name = span
            .tags
            .remove("otel.scope.name")
            .or_else(|| span.tags.remove("otel.library.name"));
        let version = span
            .tags
            .remove("otel.scope.version")
            .or_else(|| span.tags.remove("otel.library.version"));
        let (name, version) = (name.unwrap_or_default(), version.unwrap_or_default());
        let scopes = &mut resources[r].scope_spans;
        let s = *by_scope
            .entry((r, name.clone(), version.clone()))
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
        scopes[s].spans.push(span_to_otlp(span));
    }
    resources
}

fn kind(span: &mut Span) -> SpanKind {
    match span.kind {
        Some(Kind::Client) => SpanKind::Client,
        Some(Kind::Server) => SpanKind::Server,
        Some(Kind::Producer) => SpanKind::Producer,
        Some(Kind::Consumer) => SpanKind::Consumer,
        None => match span.tags.remove("span.kind").as_deref() {
            Some("internal") => SpanKind::Internal,
            _ => SpanKind::Unspecified,
        },
    }
}

fn status(span: &mut Span) -> Option<Status> {
    let mut status: Option<Status> = None;
    if let Some(code) = span.tags.remove("otel.status_code") {
        let code = match code.to_ascii_uppercase().as_str() {
            "STATUS_CODE_OK" | "OK" => StatusCode::Ok,
            "STATUS_CODE_ERROR" | "ERROR" => StatusCode::Error,
            _ => StatusCode::Unset,
        };
        status = Some(Status {
            code: code as i32,
            message: span
                .tags
                .remove("otel.status_description")
                .unwrap_or_default(),
        });
    }
    if let Some(error) = span.tags.remove("error") {
        let s = status.get_or_insert_with(Status::default);
        s.code = StatusCode::Error as i32;
        if s.message.is_empty() && error != "true" {
            s.message = error;
        }
    }
    status
}

fn ip(e: &Endpoint) -> Option<String> {
    e.ipv6
        .map(|a| a.to_string())
        .or_else(|| e.ipv4.map(|a| a.to_string()))
}

/// Splits the Collector's `name|{json}|dropped` annotation into a name and attributes.
fn event(time_unix_nano: u64, value: String) -> Event {
    let parts: Vec<&str> = value.split('|').collect();
    if parts.len() >= 3
        && let Ok(dropped) = parts[parts.len() - 1].parse::<u32>()
        && let Ok(serde_json::Value::Object(map)) =
            serde_json::from_str::<serde_json::Value>(&parts[1..parts.len() - 1].join("|"))
    {
        let attributes = map
            .into_iter()
            .filter_map(|(k, v)| {
                let value = match v {
                    serde_json::Value::String(s) => Value::StringValue(s),
                    serde_json::Value::Bool(b) => Value::BoolValue(b),
                    serde_json::Value::Number(n) => match n.as_i64() {
                        Some(i) => Value::IntValue(i),
                        None => Value::DoubleValue(n.as_f64()?),
                    },
                    _ => return None,
                };
                Some(KeyValue {
                    key: k,
                    value: Some(tempo_core::model::AnyValue { value: Some(value) }),
                })
            })
            .collect();
        return Event {
            time_unix_nano,
            name: parts[0].to_owned(),
            attributes,
            dropped_attributes_count: dropped,
        };
    }
    Event {
        time_unix_nano,
        name: value,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    }
}

fn span_to_otlp(mut span: Span) -> OtlpSpan {
    let trace_state = span.tags.remove("w3c.tracestate").unwrap_or_default();
    let kind = kind(&mut span);
    let status = status(&mut span);
    let mut attrs = Attrs::default();
    for (k, v) in std::mem::take(&mut span.tags) {
        attrs.put(k, Value::StringValue(v));
    }
    if let Some(local) = &span.local_endpoint {
        if let Some(ip) = ip(local) {
            attrs.insert("net.host.ip", Value::StringValue(ip));
        }
        if local.port > 0 {
            attrs.put("net.host.port", Value::IntValue(i64::from(local.port)));
        }
    }
    if let Some(remote) = &span.remote_endpoint {
        if !remote.service_name.is_empty() {
            attrs.insert(
                "peer.service",
                Value::StringValue(remote.service_name.clone()),
            );
        }
        if let Some(ip) = ip(remote) {
            attrs.insert("net.peer.ip", Value::StringValue(ip));
        }
        if remote.port > 0 {
            attrs.put("net.peer.port", Value::IntValue(i64::from(remote.port)));
        }
    }
    let start = match span.timestamp_us {
        Some(ts) => ts.saturating_mul(1000),
        None => {
            attrs.insert("otel.zipkin.absentField.startTime", Value::BoolValue(true));
            0
        }
    };
    let end = start.saturating_add(span.duration_us.saturating_mul(1000));
    let events = span
        .annotations
        .into_iter()
        .map(|a| event(a.timestamp_us.saturating_mul(1000), a.value))
        .collect();
    OtlpSpan {
        trace_id: span.trace_id.to_vec(),
        span_id: span.id.to_vec(),
        trace_state,
        parent_span_id: match span.parent_id {
            Some(p) if p != span.id => p.to_vec(),
            _ => Vec::new(),
        },
        name: span.name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs.into_vec(),
        dropped_attributes_count: 0,
        events,
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status,
        flags: 0,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::model::Annotation;
    use super::*;

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

    fn span(service: &str, tags: &[(&str, &str)]) -> Span {
        Span {
            trace_id: [1; 16],
            id: [2; 8],
            local_endpoint: Some(Endpoint {
                service_name: service.into(),
                ..Endpoint::default()
            }),
            timestamp_us: Some(5),
            duration_us: 7,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Span::default()
        }
    }

    #[test]
    fn resources_scopes_and_endpoints() {
        let mut a = span("api", &[("host.name", "h1"), ("http.method", "GET")]);
        a.local_endpoint = Some(Endpoint {
            service_name: "api".into(),
            ipv4: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ipv6: None,
            port: 8080,
        });
        a.remote_endpoint = Some(Endpoint {
            service_name: "db".into(),
            ipv4: Some(Ipv4Addr::new(10, 0, 0, 2)),
            ipv6: None,
            port: 5432,
        });
        a.parent_id = Some([2; 8]);
        let b = span(
            "api",
            &[
                ("host.name", "h1"),
                ("otel.library.name", "lib"),
                ("otel.library.version", "2"),
            ],
        );
        let c = span("worker", &[]);
        let rs = spans_to_resource_spans(vec![a, b, c]);
        assert_eq!(rs.len(), 2);
        let resource = &rs[0].resource.as_ref().unwrap().attributes;
        assert_eq!(attr(resource, "service.name"), Some(&s("api")));
        assert_eq!(attr(resource, "host.name"), Some(&s("h1")));
        assert_eq!(rs[0].scope_spans.len(), 2);
        let scope = rs[0].scope_spans[1].scope.as_ref().unwrap();
        assert_eq!((scope.name.as_str(), scope.version.as_str()), ("lib", "2"));
        let first = &rs[0].scope_spans[0].spans[0];
        assert!(
            first.parent_span_id.is_empty(),
            "a parent equal to the span's own is none"
        );
        assert_eq!(first.start_time_unix_nano, 5000);
        assert_eq!(first.end_time_unix_nano, 12_000);
        let attrs = &first.attributes;
        assert_eq!(attr(attrs, "http.method"), Some(&s("GET")));
        assert_eq!(attr(attrs, "host.name"), None);
        assert_eq!(attr(attrs, "net.host.ip"), Some(&s("10.0.0.1")));
        assert_eq!(attr(attrs, "net.host.port"), Some(&Value::IntValue(8080)));
        assert_eq!(attr(attrs, "peer.service"), Some(&s("db")));
        assert_eq!(attr(attrs, "net.peer.ip"), Some(&s("10.0.0.2")));
        assert_eq!(attr(attrs, "net.peer.port"), Some(&Value::IntValue(5432)));
        assert_eq!(
            attr(&rs[1].resource.as_ref().unwrap().attributes, "service.name"),
            Some(&s("worker"))
        );
    }

    fn one(span: Span) -> OtlpSpan {
        spans_to_resource_spans(vec![span])
            .remove(0)
            .scope_spans
            .remove(0)
            .spans
            .remove(0)
    }

    #[test]
    fn kinds_status_events_and_absent_timestamps() {
        for (k, want) in [
            (Kind::Client, SpanKind::Client),
            (Kind::Server, SpanKind::Server),
            (Kind::Producer, SpanKind::Producer),
            (Kind::Consumer, SpanKind::Consumer),
        ] {
            let mut sp = span("a", &[]);
            sp.kind = Some(k);
            assert_eq!(one(sp).kind, want as i32);
        }
        let sp = one(span("a", &[("span.kind", "internal")]));
        assert_eq!(sp.kind, SpanKind::Internal as i32);
        assert!(sp.attributes.is_empty());

        let status = |tags: &[(&str, &str)]| {
            one(span("a", tags))
                .status
                .map(|s| (StatusCode::try_from(s.code).unwrap(), s.message))
        };
        assert_eq!(
            status(&[("error", "true")]),
            Some((StatusCode::Error, String::new()))
        );
        assert_eq!(
            status(&[("error", "boom")]),
            Some((StatusCode::Error, "boom".into()))
        );
        assert_eq!(
            status(&[
                ("otel.status_code", "STATUS_CODE_OK"),
                ("otel.status_description", "d")
            ]),
            Some((StatusCode::Ok, "d".into()))
        );
        assert_eq!(
            status(&[("otel.status_code", "ERROR"), ("error", "x")]),
            Some((StatusCode::Error, "x".into()))
        );
        assert_eq!(status(&[]), None);

        let mut sp = span("a", &[("w3c.tracestate", "k=v")]);
        sp.timestamp_us = None;
        sp.annotations = vec![
            Annotation {
                timestamp_us: 3,
                value: "retry".into(),
            },
            Annotation {
                timestamp_us: 4,
                value: r#"exception|{"exception.type":"E","n":2}|1"#.into(),
            },
        ];
        let sp = one(sp);
        assert_eq!(sp.trace_state, "k=v");
        assert_eq!(sp.start_time_unix_nano, 0);
        assert_eq!(
            attr(&sp.attributes, "otel.zipkin.absentField.startTime"),
            Some(&Value::BoolValue(true))
        );
        assert_eq!(sp.events[0].name, "retry");
        assert_eq!(sp.events[0].time_unix_nano, 3000);
        assert_eq!(sp.events[1].name, "exception");
        assert_eq!(
            attr(&sp.events[1].attributes, "exception.type"),
            Some(&s("E"))
        );
        assert_eq!(
            attr(&sp.events[1].attributes, "n"),
            Some(&Value::IntValue(2))
        );
        assert_eq!(sp.events[1].dropped_attributes_count, 1);
    }
}
