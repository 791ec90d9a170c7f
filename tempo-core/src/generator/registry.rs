//! registry: one tenant's generated series, bounded, stale ones dropped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::BuildHasherDefault;

use xxhash_rust::xxh3::Xxh3;

use crate::head::IdHasher;

use super::SpanMetricsConfig;

/// What a generated series is, for its exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// A counter (`..._total`).
    Counter,
    /// A gauge (`traces_target_info`).
    Gauge,
    /// A histogram's bucket (`..._bucket`, with `le`).
    Bucket,
    /// A histogram's sum (`..._sum`).
    Sum,
    /// A histogram's count (`..._count`).
    Count,
}

/// A span behind a histogram bucket's value.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Its trace ID, 32 hex digits.
    pub trace_id: String,
    /// Its span ID, 16 hex digits.
    pub span_id: String,
    /// The value it gave (seconds).
    pub value: f64,
    /// When it was observed, unix nanoseconds.
    pub timestamp_unix_nano: u64,
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
    /// The latest span behind the value, for a histogram's buckets.
    pub exemplar: Option<Exemplar>,
    /// When the series began, unix nanoseconds: a remote writer sends a zero before its first
    /// value so that the first increase is seen.
    pub created_unix_nano: u64,
}

/// An exemplar as held: raw IDs, made text only when series are read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawExemplar {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) value: f64,
    pub(crate) timestamp_unix_nano: u64,
}

impl RawExemplar {
    fn to_exemplar(self) -> Exemplar {
        Exemplar {
            trace_id: hex::encode(self.trace_id),
            span_id: hex::encode(self.span_id),
            value: self.value,
            timestamp_unix_nano: self.timestamp_unix_nano,
        }
    }
}

/// A histogram's state: spans per bucket (not cumulative; the last past every bound), sum,
/// and the latest span per bucket.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    counts: Vec<f64>,
    sum: f64,
    count: f64,
    exemplars: Vec<Option<RawExemplar>>,
}

impl Histogram {
    /// An empty histogram of `bounds` buckets plus one past them.
    pub(crate) fn new(bounds: usize) -> Histogram {
        Histogram {
            counts: vec![0.0; bounds + 1],
            sum: 0.0,
            count: 0.0,
            exemplars: vec![None; bounds + 1],
        }
    }

    /// Series a histogram of `bounds` makes.
    pub(crate) fn series_count(bounds: usize) -> usize {
        bounds + 3
    }

    /// Counts `value` `weight` times, with the span behind it.
    pub(crate) fn observe(
        &mut self,
        bounds: &[f64],
        value: f64,
        weight: f64,
        exemplar: Option<RawExemplar>,
    ) {
        let b = bounds.partition_point(|bound| *bound < value);
        if let Some(n) = self.counts.get_mut(b) {
            *n += weight;
        }
        self.sum += value * weight;
        self.count += weight;
        if let (Some(x), Some(e)) = (self.exemplars.get_mut(b), exemplar) {
            *x = Some(e);
        }
    }

    /// The histogram's series: `{base}_bucket` per bound and `+Inf`, `{base}_sum`,
    /// `{base}_count`.
    pub(crate) fn push_series(
        &self,
        out: &mut Vec<GeneratedSeries>,
        base: &str,
        bounds: &[f64],
        labels: &[(String, String)],
        created: u64,
    ) {
        let mut cumulative = 0.0;
        let les = bounds
            .iter()
            .map(|b| format_float(*b))
            .chain(std::iter::once("+Inf".to_owned()));
        for ((le, n), exemplar) in les.zip(&self.counts).zip(&self.exemplars) {
            cumulative += n;
            let mut with_le = labels.to_vec();
            with_le.push(("le".to_owned(), le));
            out.push(GeneratedSeries {
                name: format!("{base}_bucket"),
                labels: with_le,
                value: cumulative,
                kind: SeriesKind::Bucket,
                exemplar: exemplar.map(RawExemplar::to_exemplar),
                created_unix_nano: created,
            });
        }
        for (suffix, value, kind) in [
            ("_sum", self.sum, SeriesKind::Sum),
            ("_count", self.count, SeriesKind::Count),
        ] {
            out.push(GeneratedSeries {
                name: format!("{base}{suffix}"),
                labels: labels.to_vec(),
                value,
                kind,
                exemplar: None,
                created_unix_nano: created,
            });
        }
    }
}

/// A counter's series.
pub(crate) fn counter(
    name: &str,
    labels: &[(String, String)],
    value: f64,
    created: u64,
) -> GeneratedSeries {
    GeneratedSeries {
        name: name.to_owned(),
        labels: labels.to_vec(),
        value,
        kind: SeriesKind::Counter,
        exemplar: None,
        created_unix_nano: created,
    }
}

/// A hash of label values, for finding their series without making owned strings.
pub(crate) fn hash_values<S: AsRef<str>>(values: &[S]) -> u64 {
    let mut h = Xxh3::new();
    for v in values {
        h.update(v.as_ref().as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// Where the series of each label set are, by the hash of its values.
#[derive(Debug, Default)]
pub(crate) struct LabelIndex {
    map: HashMap<u64, Vec<usize>, BuildHasherDefault<IdHasher>>,
}

impl LabelIndex {
    /// The position of the label set `values` (hash `hash`), when held; `at` gives a
    /// position's values.
    pub(crate) fn find<'a, S: AsRef<str>>(
        &self,
        hash: u64,
        values: &[S],
        at: impl Fn(usize) -> &'a [String],
    ) -> Option<usize> {
        self.map.get(&hash)?.iter().copied().find(|&i| {
            let held = at(i);
            held.len() == values.len() && held.iter().zip(values).all(|(a, b)| a == b.as_ref())
        })
    }

    /// Records the label set of hash `hash` at position `i`.
    pub(crate) fn insert(&mut self, hash: u64, i: usize) {
        self.map.entry(hash).or_default().push(i);
    }

    /// An index of label sets, each given with its position.
    pub(crate) fn rebuild<'a>(sets: impl Iterator<Item = &'a [String]>) -> LabelIndex {
        let mut index = LabelIndex::default();
        for (i, values) in sets.enumerate() {
            index.insert(hash_values(values), i);
        }
        index
    }
}

/// Label names zipped with values; a label whose value is empty is left out, as Prometheus
/// treats it.
pub(crate) fn zip_labels(names: &[String], values: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .zip(values)
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// The span metrics of one label set.
#[derive(Debug)]
struct SpanEntry {
    values: Vec<String>,
    calls: f64,
    size: f64,
    latency: Histogram,
    /// When it began and was last updated, unix nanoseconds.
    created: u64,
    updated: u64,
}

/// One tenant's span metrics.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// The label names of span metrics, in order.
    names: Vec<String>,
    index: LabelIndex,
    entries: Vec<SpanEntry>,
    /// `traces_target_info` series: labels, created, updated.
    target_info: HashMap<Vec<(String, String)>, (u64, u64)>,
    /// Series per entry (calls, size, and the latency histogram's).
    per_entry: usize,
    dropped: u64,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new() -> Registry {
        Registry::default()
    }

    /// Sets the label names of span metrics and the number of latency buckets.
    pub(crate) fn set_names(&mut self, names: &[String], bounds: usize) {
        if self.names != names {
            self.names = names.to_vec();
        }
        self.per_entry = 2 + Histogram::series_count(bounds);
    }

    /// The series held.
    pub(crate) fn active_series(&self) -> usize {
        self.entries.len() * self.per_entry + self.target_info.len()
    }

    /// Counts one span of label values `values` `weight` times: its latency (seconds) in
    /// `buckets` (upper bounds), its encoded size. `room` says whether a new label set fits.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn observe<S: AsRef<str>>(
        &mut self,
        values: &[S],
        buckets: &[f64],
        latency: f64,
        size: u64,
        weight: f64,
        exemplar: RawExemplar,
        room: impl FnOnce(&Registry) -> bool,
        now: u64,
    ) {
        let hash = hash_values(values);
        let entries = &self.entries;
        let i = match self.index.find(hash, values, |i| &entries[i].values) {
            Some(i) => i,
            None => {
                if !room(self) {
                    self.dropped += 1;
                    return;
                }
                self.entries.push(SpanEntry {
                    values: values.iter().map(|v| v.as_ref().to_owned()).collect(),
                    calls: 0.0,
                    size: 0.0,
                    latency: Histogram::new(buckets.len()),
                    created: now,
                    updated: now,
                });
                self.index.insert(hash, self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[i];
        e.calls += weight;
        e.size += size as f64 * weight;
        e.latency.observe(buckets, latency, weight, Some(exemplar));
        e.updated = e.updated.max(now);
    }

    /// Marks a resource's `traces_target_info` series as seen at `now`.
    pub(crate) fn target_info(&mut self, labels: Vec<(String, String)>, room: bool, now: u64) {
        if let Some(t) = self.target_info.get_mut(&labels) {
            t.1 = now;
        } else if room {
            self.target_info.insert(labels, (now, now));
        }
    }

    /// Drops the series not updated since `before` (unix nanoseconds).
    pub(crate) fn drop_stale(&mut self, before: u64) {
        self.target_info
            .retain(|_, (_, updated)| *updated >= before);
        if self.entries.iter().all(|e| e.updated >= before) {
            return;
        }
        self.entries.retain(|e| e.updated >= before);
        self.index = LabelIndex::rebuild(self.entries.iter().map(|e| &e.values[..]));
    }

    /// Spans counted in no series because the registry was full.
    pub(crate) fn dropped_spans(&self) -> u64 {
        self.dropped
    }

    /// Every series, unsorted.
    pub(crate) fn series(&self, config: &SpanMetricsConfig) -> Vec<GeneratedSeries> {
        let mut out = Vec::new();
        for e in &self.entries {
            let labels = zip_labels(&self.names, &e.values);
            out.push(counter(
                "traces_spanmetrics_calls_total",
                &labels,
                e.calls,
                e.created,
            ));
            out.push(counter(
                "traces_spanmetrics_size_total",
                &labels,
                e.size,
                e.created,
            ));
            e.latency.push_series(
                &mut out,
                "traces_spanmetrics_latency",
                &config.histogram_buckets,
                &labels,
                e.created,
            );
        }
        for (labels, (created, _)) in &self.target_info {
            out.push(GeneratedSeries {
                name: "traces_target_info".to_owned(),
                labels: labels.clone(),
                value: 1.0,
                kind: SeriesKind::Gauge,
                exemplar: None,
                created_unix_nano: *created,
            });
        }
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
            SeriesKind::Counter | SeriesKind::Gauge => s.name.as_str(),
            SeriesKind::Bucket => s.name.trim_end_matches("_bucket"),
            SeriesKind::Sum => s.name.trim_end_matches("_sum"),
            SeriesKind::Count => s.name.trim_end_matches("_count"),
        };
        if base != family {
            let kind = match s.kind {
                SeriesKind::Counter => "counter",
                SeriesKind::Gauge => "gauge",
                _ => "histogram",
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
