//! registry: one tenant's generated series, bounded, stale ones dropped.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::SpanMetricsConfig;
use crate::model::TraceId;

/// What a generated series is, for its exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// A counter (`..._total`).
    Counter,
    /// A histogram's bucket (`..._bucket`, with `le`).
    Bucket,
    /// A histogram's sum (`..._sum`).
    Sum,
    /// A histogram's count (`..._count`).
    Count,
}

/// One generated series and its current value.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedSeries {
    /// The metric's name, for example `traces_spanmetrics_calls_total`.
    pub name: String,
    /// Its labels, in order.
    pub labels: Vec<(String, String)>,
    /// Its value: a count since the series began, or a sum.
    pub value: f64,
    /// What it is.
    pub kind: SeriesKind,
    /// A span behind the value, for a histogram's buckets: its trace ID (hex) and its value.
    pub exemplar: Option<(String, f64)>,
}

/// The span metrics of one label set.
#[derive(Debug)]
struct SpanEntry {
    values: Vec<String>,
    calls: f64,
    size: f64,
    /// Spans per latency bucket (not cumulative); the last is past every bound.
    buckets: Vec<u64>,
    sum: f64,
    /// When it was last updated, unix nanoseconds.
    updated: u64,
    /// The latest span, per bucket: its trace and latency.
    exemplars: Vec<Option<(TraceId, f64)>>,
}

/// One tenant's series.
#[derive(Debug)]
pub(crate) struct Registry {
    max: usize,
    /// The label names of span metrics, in order.
    names: Vec<String>,
    index: HashMap<Vec<String>, usize>,
    entries: Vec<SpanEntry>,
    dropped: u64,
}

impl Registry {
    /// An empty registry of at most `max` label sets (0: no limit).
    pub(crate) fn new(max: usize) -> Registry {
        Registry {
            max,
            names: Vec::new(),
            index: HashMap::new(),
            entries: Vec::new(),
            dropped: 0,
        }
    }

    /// Sets the label names of span metrics.
    pub(crate) fn set_names(&mut self, names: &[String]) {
        if self.names != names {
            self.names = names.to_vec();
        }
    }

    /// Counts one span of label values `values`: its latency (seconds) in `buckets` (upper
    /// bounds), its encoded size.
    pub(crate) fn observe(
        &mut self,
        values: &[String],
        buckets: &[f64],
        latency: f64,
        size: u64,
        trace: TraceId,
        now: u64,
    ) {
        let i = match self.index.get(values) {
            Some(&i) => i,
            None => {
                if self.max > 0 && self.entries.len() >= self.max {
                    self.dropped += 1;
                    return;
                }
                self.entries.push(SpanEntry {
                    values: values.to_vec(),
                    calls: 0.0,
                    size: 0.0,
                    buckets: vec![0; buckets.len() + 1],
                    sum: 0.0,
                    updated: now,
                    exemplars: vec![None; buckets.len() + 1],
                });
                self.index.insert(values.to_vec(), self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[i];
        e.calls += 1.0;
        e.size += size as f64;
        e.sum += latency;
        let b = buckets.partition_point(|bound| *bound < latency);
        if let Some(n) = e.buckets.get_mut(b) {
            *n += 1;
        }
        if let Some(x) = e.exemplars.get_mut(b) {
            *x = Some((trace, latency));
        }
        e.updated = e.updated.max(now);
    }

    /// Drops the series not updated since `before` (unix nanoseconds).
    pub(crate) fn drop_stale(&mut self, before: u64) {
        if self.entries.iter().all(|e| e.updated >= before) {
            return;
        }
        self.entries.retain(|e| e.updated >= before);
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.values.clone(), i))
            .collect();
    }

    /// Spans counted in no series because the registry was full.
    pub(crate) fn dropped_spans(&self) -> u64 {
        self.dropped
    }

    /// Every series, sorted by name and labels.
    pub(crate) fn series(&self, config: Option<&SpanMetricsConfig>) -> Vec<GeneratedSeries> {
        let Some(config) = config else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in &self.entries {
            let labels: Vec<(String, String)> = self
                .names
                .iter()
                .cloned()
                .zip(e.values.iter().cloned())
                .collect();
            out.push(GeneratedSeries {
                name: "traces_spanmetrics_calls_total".to_owned(),
                labels: labels.clone(),
                value: e.calls,
                kind: SeriesKind::Counter,
                exemplar: None,
            });
            out.push(GeneratedSeries {
                name: "traces_spanmetrics_size_total".to_owned(),
                labels: labels.clone(),
                value: e.size,
                kind: SeriesKind::Counter,
                exemplar: None,
            });
            let mut cumulative = 0u64;
            let bounds = config
                .histogram_buckets
                .iter()
                .map(|b| format_float(*b))
                .chain(std::iter::once("+Inf".to_owned()));
            for ((bound, n), exemplar) in bounds.zip(&e.buckets).zip(&e.exemplars) {
                cumulative += n;
                let mut with_le = labels.clone();
                with_le.push(("le".to_owned(), bound));
                out.push(GeneratedSeries {
                    name: "traces_spanmetrics_latency_bucket".to_owned(),
                    labels: with_le,
                    value: cumulative as f64,
                    kind: SeriesKind::Bucket,
                    exemplar: exemplar.map(|(t, v)| (hex::encode(t.0), v)),
                });
            }
            out.push(GeneratedSeries {
                name: "traces_spanmetrics_latency_sum".to_owned(),
                labels: labels.clone(),
                value: e.sum,
                kind: SeriesKind::Sum,
                exemplar: None,
            });
            out.push(GeneratedSeries {
                name: "traces_spanmetrics_latency_count".to_owned(),
                labels,
                value: e.calls,
                kind: SeriesKind::Count,
                exemplar: None,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.labels.cmp(&b.labels)));
        out
    }
}

/// A float as Prometheus writes a bucket bound: `0.002`, `16.384`, `1`.
fn format_float(v: f64) -> String {
    format!("{v}")
}

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Series in Prometheus' text exposition format, with a `# TYPE` line per family.
pub(crate) fn to_text(series: &[GeneratedSeries]) -> String {
    let mut out = String::new();
    let mut family = "";
    for s in series {
        let base = match s.kind {
            SeriesKind::Counter => s.name.as_str(),
            SeriesKind::Bucket => s.name.trim_end_matches("_bucket"),
            SeriesKind::Sum => s.name.trim_end_matches("_sum"),
            SeriesKind::Count => s.name.trim_end_matches("_count"),
        };
        if base != family {
            let kind = if s.kind == SeriesKind::Counter {
                "counter"
            } else {
                "histogram"
            };
            let _ = writeln!(out, "# TYPE {base} {kind}");
            family = base;
        }
        let labels: Vec<String> = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(out, "{}{{{}}} {}", s.name, labels.join(","), s.value);
    }
    out
}
