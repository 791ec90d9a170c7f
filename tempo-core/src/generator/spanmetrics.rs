//! spanmetrics: calls, latency and size per service, operation, kind and status.

use prost::Message;

use super::SpanMetricsConfig;
use super::registry::Registry;
use crate::model::{AnyValue, KeyValue, ResourceSpans, TraceId, Value};

/// The label of an OTLP span kind, as Tempo writes it.
fn kind_label(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

/// The label of an OTLP status code, as Tempo writes it.
fn status_label(code: i32) -> &'static str {
    match code {
        1 => "STATUS_CODE_OK",
        2 => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

/// A label name from an attribute name, as Prometheus allows them: every character but
/// `[a-zA-Z0-9_]` made `_`; a name that is one of the built-in labels' gets `__` before it.
pub(crate) fn sanitize(name: &str) -> String {
    let out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match out.as_str() {
        "service" | "span_name" | "span_kind" | "status_code" | "status_message" => {
            format!("__{out}")
        }
        _ => out,
    }
}

/// An attribute's value as a label value; empty when absent.
fn value_text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(f)) => f.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// The label names of span metrics with `config`, in order.
pub(crate) fn label_names(config: &SpanMetricsConfig) -> Vec<String> {
    let d = &config.intrinsic_dimensions;
    let mut names = Vec::new();
    for (on, name) in [
        (d.service, "service"),
        (d.span_name, "span_name"),
        (d.span_kind, "span_kind"),
        (d.status_code, "status_code"),
        (d.status_message, "status_message"),
    ] {
        if on {
            names.push(name.to_owned());
        }
    }
    names.extend(config.dimensions.iter().map(|d| sanitize(d)));
    names
}

/// Counts every span of `resource_spans` into `registry`.
pub(crate) fn consume(
    config: &SpanMetricsConfig,
    registry: &mut Registry,
    resource_spans: &[ResourceSpans],
    now: u64,
) {
    registry.set_names(&label_names(config));
    let d = &config.intrinsic_dimensions;
    let mut values: Vec<String> = Vec::new();
    for rs in resource_spans {
        let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let service = value_text(find(resource, "service.name"));
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                values.clear();
                if d.service {
                    values.push(service.clone());
                }
                if d.span_name {
                    values.push(span.name.clone());
                }
                if d.span_kind {
                    values.push(kind_label(span.kind).to_owned());
                }
                let status = span.status.as_ref();
                if d.status_code {
                    values.push(status_label(status.map_or(0, |s| s.code)).to_owned());
                }
                if d.status_message {
                    values.push(status.map(|s| s.message.clone()).unwrap_or_default());
                }
                for key in &config.dimensions {
                    let v = find(resource, key).or_else(|| find(&span.attributes, key));
                    values.push(value_text(v));
                }
                let latency = span
                    .end_time_unix_nano
                    .saturating_sub(span.start_time_unix_nano) as f64
                    / 1e9;
                let trace = TraceId::from_slice(&span.trace_id).unwrap_or_default();
                registry.observe(
                    &values,
                    &config.histogram_buckets,
                    latency,
                    span.encoded_len() as u64,
                    trace,
                    now,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_become_prometheus_label_names() {
        assert_eq!(sanitize("http.route"), "http_route");
        assert_eq!(sanitize("k8s-pod.name"), "k8s_pod_name");
        assert_eq!(sanitize("service"), "__service");
        assert_eq!(sanitize("9lives"), "9lives");
    }
}
