//! exposition: what does a scraper of the generated series read?
//!
//! A tenant's generated series in Prometheus' text format (0.0.4), or in OpenMetrics 1.0 with
//! the exemplars of histogram buckets when the scraper asks for it (`Accept:
//! application/openmetrics-text`), as Prometheus asks when exemplar storage is on. Series are
//! grouped by family (one `# TYPE` line each) and, within a histogram, by label set: buckets
//! in order, then `_count` and `_sum`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tempo_core::generator::{GeneratedSeries, SeriesKind};

use super::{SeriesRules, exemplar_trace_id};

/// The formats served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Prometheus' text format, version 0.0.4: no exemplars.
    Text,
    /// OpenMetrics 1.0 text, with exemplars, ending with `# EOF`.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when `accept` names it, else the text format.
    pub(crate) fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a)
                if a.to_ascii_lowercase()
                    .contains("application/openmetrics-text") =>
            {
                Format::OpenMetrics
            }
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of an answer in this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A family: its type and, by label set (without `le`), its rows.
struct Family<'a> {
    kind: &'static str,
    metrics: BTreeMap<Vec<(String, String)>, Vec<Row<'a>>>,
}

/// One series to write: its labels (without `__name__`) and where it goes in its metric.
struct Row<'a> {
    series: &'a GeneratedSeries,
    labels: Vec<(String, String)>,
    order: (u8, f64),
}

/// The name of `series`' family, and its type, in `format`.
fn family(series: &GeneratedSeries, format: Format) -> (&str, &'static str) {
    let name = series.name.as_str();
    match series.kind {
        SeriesKind::Counter => match (format, name.strip_suffix("_total")) {
            (Format::OpenMetrics, Some(base)) => (base, "counter"),
            (Format::OpenMetrics, None) => (name, "unknown"),
            (Format::Text, _) => (name, "counter"),
        },
        SeriesKind::Gauge => (name, "gauge"),
        SeriesKind::Bucket => (name.strip_suffix("_bucket").unwrap_or(name), "histogram"),
        SeriesKind::Sum => (name.strip_suffix("_sum").unwrap_or(name), "histogram"),
        SeriesKind::Count => (name.strip_suffix("_count").unwrap_or(name), "histogram"),
    }
}

/// `series` of `tenant`, labelled by `rules`, in `format`.
pub(crate) fn render(
    rules: &SeriesRules,
    tenant: &str,
    series: &[GeneratedSeries],
    format: Format,
) -> String {
    let mut families: BTreeMap<&str, Family<'_>> = BTreeMap::new();
    for s in series {
        let (name, kind) = family(s, format);
        let mut labels = rules.labels(tenant, s);
        labels.retain(|(k, _)| k != "__name__");
        let mut key = labels.clone();
        let mut order = (0, 0.0);
        match s.kind {
            SeriesKind::Bucket => {
                key.retain(|(k, _)| k != "le");
                let le = labels
                    .iter()
                    .find(|(k, _)| k == "le")
                    .map_or(f64::INFINITY, |(_, v)| {
                        v.parse::<f64>().unwrap_or(f64::INFINITY)
                    });
                order = (0, le);
            }
            SeriesKind::Count => order = (1, 0.0),
            SeriesKind::Sum => order = (2, 0.0),
            SeriesKind::Counter | SeriesKind::Gauge => {}
        }
        families
            .entry(name)
            .or_insert_with(|| Family {
                kind,
                metrics: BTreeMap::new(),
            })
            .metrics
            .entry(key)
            .or_default()
            .push(Row {
                series: s,
                labels,
                order,
            });
    }
    let mut out = String::new();
    for (name, family) in &mut families {
        let _ = writeln!(out, "# TYPE {name} {}", family.kind);
        for rows in family.metrics.values_mut() {
            rows.sort_by(|a, b| {
                a.order
                    .partial_cmp(&b.order)
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            for row in rows.iter() {
                write_row(&mut out, rules, row, format);
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn write_row(out: &mut String, rules: &SeriesRules, row: &Row<'_>, format: Format) {
    out.push_str(&row.series.name);
    write_labels(
        out,
        row.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let _ = write!(out, " {}", number(row.series.value));
    if format == Format::OpenMetrics
        && let Some(e) = &row.series.exemplar
    {
        out.push_str(" # ");
        let trace_id = exemplar_trace_id(&e.trace_id);
        write_labels_always(out, [(rules.trace_id_label_name.as_str(), trace_id)]);
        let ms = e.timestamp_unix_nano / 1_000_000;
        let _ = write!(out, " {} {}.{:03}", number(e.value), ms / 1000, ms % 1000);
    }
    out.push('\n');
}

fn write_labels<'a>(out: &mut String, labels: impl IntoIterator<Item = (&'a str, &'a str)>) {
    let mut labels = labels.into_iter().peekable();
    if labels.peek().is_some() {
        write_labels_always(out, labels);
    }
}

fn write_labels_always<'a>(out: &mut String, labels: impl IntoIterator<Item = (&'a str, &'a str)>) {
    out.push('{');
    for (i, (name, value)) in labels.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// A value as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, or the shortest decimal.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use tempo_core::generator::Exemplar;

    use super::*;

    fn s(name: &str, kind: SeriesKind, labels: &[(&str, &str)], value: f64) -> GeneratedSeries {
        GeneratedSeries {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
            kind,
            exemplar: None,
            created_unix_nano: 0,
        }
    }

    fn sample() -> Vec<GeneratedSeries> {
        let h = "traces_spanmetrics_latency";
        let mut bucket = s(
            &format!("{h}_bucket"),
            SeriesKind::Bucket,
            &[("service", "a\"b"), ("le", "0.5")],
            2.0,
        );
        bucket.exemplar = Some(Exemplar {
            trace_id: "000102030405060708090a0b0c0d0e0f".into(),
            span_id: "0102030405060708".into(),
            value: 0.25,
            timestamp_unix_nano: 1_700_000_000_123_456_789,
        });
        // Sorted by name, as the store returns them: the histogram's parts are apart.
        vec![
            s(
                "traces_service_graph_request_total",
                SeriesKind::Counter,
                &[("client", "x")],
                3.0,
            ),
            s(
                &format!("{h}_bucket"),
                SeriesKind::Bucket,
                &[("service", "a\"b"), ("le", "+Inf")],
                2.0,
            ),
            bucket,
            s(
                &format!("{h}_count"),
                SeriesKind::Count,
                &[("service", "a\"b")],
                2.0,
            ),
            s(
                &format!("{h}_sum"),
                SeriesKind::Sum,
                &[("service", "a\"b")],
                0.5,
            ),
            s("traces_target_info", SeriesKind::Gauge, &[], 1.0),
        ]
    }

    #[test]
    fn text_format_groups_families_and_histograms() {
        let text = render(&SeriesRules::default(), "t", &sample(), Format::Text);
        assert_eq!(
            text,
            "# TYPE traces_service_graph_request_total counter\n\
             traces_service_graph_request_total{client=\"x\"} 3\n\
             # TYPE traces_spanmetrics_latency histogram\n\
             traces_spanmetrics_latency_bucket{le=\"0.5\",service=\"a\\\"b\"} 2\n\
             traces_spanmetrics_latency_bucket{le=\"+Inf\",service=\"a\\\"b\"} 2\n\
             traces_spanmetrics_latency_count{service=\"a\\\"b\"} 2\n\
             traces_spanmetrics_latency_sum{service=\"a\\\"b\"} 0.5\n\
             # TYPE traces_target_info gauge\n\
             traces_target_info 1\n"
        );
    }

    #[test]
    fn openmetrics_has_exemplars_and_an_end() {
        let text = render(&SeriesRules::default(), "t", &sample(), Format::OpenMetrics);
        assert!(
            text.starts_with(
                "# TYPE traces_service_graph_request counter\n\
                 traces_service_graph_request_total{client=\"x\"} 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "traces_spanmetrics_latency_bucket{le=\"0.5\",service=\"a\\\"b\"} 2 \
                 # {traceID=\"102030405060708090a0b0c0d0e0f\"} 0.25 1700000000.123\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("traces_target_info 1\n# EOF\n"), "{text}");
    }

    #[test]
    fn accept_header_chooses_the_format() {
        assert_eq!(Format::from_accept(None), Format::Text);
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Text);
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            )),
            Format::OpenMetrics
        );
    }
}
