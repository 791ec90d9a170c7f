//! spanmetrics: calls, latency and size per service, operation, kind and status.

use std::borrow::Cow;

use prost::Message;

use super::registry::{RawExemplar, Registry};
use super::{SpanMetricsConfig, filter};
use crate::model::{AnyValue, KeyValue, ResourceSpans, Span, Value};

/// The label of an OTLP span kind, as Tempo writes it.
pub(crate) fn kind_label(kind: i32) -> &'static str {
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
pub(crate) fn status_label(code: i32) -> &'static str {
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
        "service" | "span_name" | "span_kind" | "status_code" | "status_message" | "job"
        | "instance" => {
            format!("__{out}")
        }
        _ => out,
    }
}

/// An attribute's value as a label value; empty when absent.
pub(crate) fn value_text(v: Option<&AnyValue>) -> String {
    value_str(v).into_owned()
}

/// An attribute's value as a label value, borrowed when it is a string; empty when absent.
pub(crate) fn value_str(v: Option<&AnyValue>) -> Cow<'_, str> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => Cow::Borrowed(s),
        Some(Value::IntValue(i)) => Cow::Owned(i.to_string()),
        Some(Value::DoubleValue(f)) => Cow::Owned(f.to_string()),
        Some(Value::BoolValue(b)) => Cow::Owned(b.to_string()),
        Some(other) => Cow::Owned(format!("{other:?}")),
        None => Cow::Borrowed(""),
    }
}

pub(crate) fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
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

/// The weight of a span: the number in `key` (resource first, then span), else 1.
pub(crate) fn multiplier(key: &str, resource: &[KeyValue], span: &Span) -> f64 {
    if key.is_empty() {
        return 1.0;
    }
    match find(resource, key)
        .or_else(|| find(&span.attributes, key))
        .and_then(|v| v.value.as_ref())
    {
        Some(Value::DoubleValue(f)) if f.is_finite() && *f > 0.0 => *f,
        Some(Value::IntValue(i)) if *i > 0 => *i as f64,
        _ => 1.0,
    }
}

/// Whether a span ended within `window` (unix nanoseconds, inclusive).
pub(crate) fn in_window(span: &Span, window: (u64, u64)) -> bool {
    (window.0..=window.1).contains(&span.end_time_unix_nano)
}

/// A span as an exemplar of `value`.
pub(crate) fn exemplar(span: &Span, value: f64, now: u64) -> RawExemplar {
    let mut trace_id = [0; 16];
    let mut span_id = [0; 8];
    if span.trace_id.len() == 16 {
        trace_id.copy_from_slice(&span.trace_id);
    }
    if span.span_id.len() == 8 {
        span_id.copy_from_slice(&span.span_id);
    }
    RawExemplar {
        trace_id,
        span_id,
        value,
        timestamp_unix_nano: now,
    }
}

/// A resource's `job` (`service.namespace/service.name`, or `service.name`) and `instance`
/// (`service.instance.id`), as Prometheus' target labels.
fn job_instance(resource: &[KeyValue]) -> (String, String) {
    let service = value_text(find(resource, "service.name"));
    let namespace = value_text(find(resource, "service.namespace"));
    let job = if namespace.is_empty() {
        service
    } else {
        format!("{namespace}/{service}")
    };
    (job, value_text(find(resource, "service.instance.id")))
}

/// A resource's `traces_target_info` labels, when it has attributes beyond its job and
/// instance.
fn target_info_labels(
    config: &SpanMetricsConfig,
    resource: &[KeyValue],
    job: &str,
    instance: &str,
) -> Option<Vec<(String, String)>> {
    let mut labels: Vec<(String, String)> = resource
        .iter()
        .filter(|kv| {
            !matches!(
                kv.key.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            ) && !config.target_info_excluded_dimensions.contains(&kv.key)
        })
        .map(|kv| (sanitize(&kv.key), value_text(kv.value.as_ref())))
        .collect();
    if labels.is_empty() {
        return None;
    }
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    labels.insert(0, ("instance".to_owned(), instance.to_owned()));
    labels.insert(0, ("job".to_owned(), job.to_owned()));
    Some(labels)
}

/// Counts every span of `resource_spans` that ended within `window` into `registry`;
/// `room` says whether the registry may take one more label set.
pub(crate) fn consume(
    config: &SpanMetricsConfig,
    registry: &mut Registry,
    room: impl Fn(&Registry) -> bool,
    resource_spans: &[ResourceSpans],
    window: (u64, u64),
    now: u64,
) {
    let mut names = label_names(config);
    if config.enable_target_info {
        names.push("job".to_owned());
        names.push("instance".to_owned());
    }
    registry.set_names(&names, config.histogram_buckets.len());
    let d = &config.intrinsic_dimensions;
    for rs in resource_spans {
        let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let service = value_str(find(resource, "service.name"));
        let target = config.enable_target_info.then(|| job_instance(resource));
        let mut values: Vec<Cow<'_, str>> = Vec::new();
        let mut target_seen = false;
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                if !in_window(span, window)
                    || !filter::keeps(&config.filter_policies, resource, span)
                {
                    continue;
                }
                values.clear();
                if d.service {
                    values.push(Cow::Borrowed(&service));
                }
                if d.span_name {
                    values.push(Cow::Borrowed(&span.name));
                }
                if d.span_kind {
                    values.push(Cow::Borrowed(kind_label(span.kind)));
                }
                let status = span.status.as_ref();
                if d.status_code {
                    values.push(Cow::Borrowed(status_label(status.map_or(0, |s| s.code))));
                }
                if d.status_message {
                    values.push(Cow::Borrowed(status.map_or("", |s| s.message.as_str())));
                }
                for key in &config.dimensions {
                    values.push(value_str(
                        find(resource, key).or_else(|| find(&span.attributes, key)),
                    ));
                }
                if let Some((job, instance)) = &target {
                    values.push(Cow::Borrowed(job));
                    values.push(Cow::Borrowed(instance));
                    if !target_seen {
                        target_seen = true;
                        if let Some(labels) = target_info_labels(config, resource, job, instance) {
                            let room = room(registry);
                            registry.target_info(labels, room, now);
                        }
                    }
                }
                let latency = span
                    .end_time_unix_nano
                    .saturating_sub(span.start_time_unix_nano) as f64
                    / 1e9;
                registry.observe(
                    &values,
                    &config.histogram_buckets,
                    latency,
                    span.encoded_len() as u64,
                    multiplier(&config.span_multiplier_key, resource, span),
                    exemplar(span, latency, now),
                    &room,
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
