//! metrics_query: what bytes does Tempo send back for a TraceQL metrics query?
//!
//! The bodies of `GET /api/metrics/query_range` (Tempo's `QueryRangeResponse`) and
//! `GET /api/metrics/query` (`QueryInstantResponse`), in JSON with the rules of
//! [`jsonpb`](super::jsonpb), or in protobuf ([`wire`]) when the client asks for it:
//!
//! - a series' labels are OTLP `KeyValue`s: `stringValue` (also for a missing value, `"nil"`),
//!   `intValue` (a string), `doubleValue`, `boolValue`;
//! - a sample is `{"timestampMs":"<ms>","value":<v>}`, `value` left out when it is 0;
//! - an exemplar is `{"labels":[trace:id, span:id],"value":<v>,"timestampMs":"<ms>"}`, the IDs
//!   in lowercase hex (32 and 16 digits), a NaN value written `"NaN"`; a series' exemplars
//!   come oldest first, as Tempo sorts them;
//! - `metrics` is always written, its zero counters left out; `status` is `"PARTIAL"`, with
//!   the reason in `message`, only when the answer is incomplete; an empty `series` is left
//!   out.

use prost::Message as _;
use tempo_core::model::{AnyValue, KeyValue, Value};
use tempo_core::{Exemplar, Label, LabelValue, MetricsResponse, Sample, TimeSeries};

use super::jsonpb::{JsonWriter, Object};
use super::trace::PartialStatus;

/// The label of an exemplar's trace ID, which Grafana reads to link to the trace.
const TRACE_ID_LABEL: &str = "trace:id";
/// The label of an exemplar's span ID.
const SPAN_ID_LABEL: &str = "span:id";

/// Tempo's messages of a metrics answer, for the protobuf bodies, with its field numbers.
pub(crate) mod wire {
    use tempo_core::model::KeyValue;

    use crate::render::trace::PartialStatus;

    /// Tempo's `QueryRangeResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct QueryRangeResponse {
        /// The series.
        #[prost(message, repeated, tag = "1")]
        pub(crate) series: Vec<TimeSeries>,
        /// What the query read.
        #[prost(message, optional, tag = "2")]
        pub(crate) metrics: Option<SearchMetrics>,
        /// Whether the answer is complete, as [`PartialStatus`] values.
        #[prost(enumeration = "PartialStatus", tag = "3")]
        pub(crate) status: i32,
        /// Why the answer is partial, when it is.
        #[prost(string, tag = "4")]
        pub(crate) message: String,
    }

    /// Tempo's `TimeSeries` (field 3, the former `prom_labels`, is reserved).
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct TimeSeries {
        /// The labels.
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<KeyValue>,
        /// The samples, oldest first.
        #[prost(message, repeated, tag = "2")]
        pub(crate) samples: Vec<Sample>,
        /// The exemplars.
        #[prost(message, repeated, tag = "4")]
        pub(crate) exemplars: Vec<Exemplar>,
    }

    /// Tempo's `Sample`: the value is field 1, the timestamp field 2.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Sample {
        /// The value.
        #[prost(double, tag = "1")]
        pub(crate) value: f64,
        /// The end of the interval, unix milliseconds.
        #[prost(int64, tag = "2")]
        pub(crate) timestamp_ms: i64,
    }

    /// Tempo's `Exemplar`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Exemplar {
        /// `trace:id` and `span:id`.
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<KeyValue>,
        /// The value.
        #[prost(double, tag = "2")]
        pub(crate) value: f64,
        /// The span's start, unix milliseconds.
        #[prost(int64, tag = "3")]
        pub(crate) timestamp_ms: i64,
    }

    /// Tempo's `QueryInstantResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct QueryInstantResponse {
        /// The series, one value each.
        #[prost(message, repeated, tag = "1")]
        pub(crate) series: Vec<InstantSeries>,
        /// What the query read.
        #[prost(message, optional, tag = "2")]
        pub(crate) metrics: Option<SearchMetrics>,
        /// Whether the answer is complete, as [`PartialStatus`] values.
        #[prost(enumeration = "PartialStatus", tag = "3")]
        pub(crate) status: i32,
        /// Why the answer is partial, when it is.
        #[prost(string, tag = "4")]
        pub(crate) message: String,
    }

    /// Tempo's `InstantSeries` (field 3 is reserved).
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct InstantSeries {
        /// The labels.
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<KeyValue>,
        /// The value over the whole range.
        #[prost(double, tag = "2")]
        pub(crate) value: f64,
    }

    /// Tempo's `SearchMetrics`, the counters this store keeps.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct SearchMetrics {
        /// Traces read.
        #[prost(uint32, tag = "1")]
        pub(crate) inspected_traces: u32,
        /// Bytes read.
        #[prost(uint64, tag = "2")]
        pub(crate) inspected_bytes: u64,
        /// Blocks in the range.
        #[prost(uint32, tag = "3")]
        pub(crate) total_blocks: u32,
        /// Jobs (sources) finished.
        #[prost(uint32, tag = "4")]
        pub(crate) completed_jobs: u32,
        /// Jobs (sources) in all.
        #[prost(uint32, tag = "5")]
        pub(crate) total_jobs: u32,
        /// Bytes of the blocks in the range (not counted here).
        #[prost(uint64, tag = "6")]
        pub(crate) total_block_bytes: u64,
        /// Spans read.
        #[prost(uint64, tag = "7")]
        pub(crate) inspected_spans: u64,
    }
}

/// The body of `GET /api/metrics/query_range` in JSON: Tempo's `QueryRangeResponse`.
pub(crate) fn query_range_json(answer: &MetricsResponse) -> Vec<u8> {
    let samples: usize = answer.series.iter().map(|s| s.samples.len()).sum();
    let mut w = JsonWriter::with_capacity(128 + answer.series.len() * 128 + samples * 48);
    let mut obj = w.begin_object();
    if !answer.series.is_empty() {
        obj.key(&mut w, "series");
        w.array(&answer.series, JsonWriter::time_series);
    }
    w.metrics_and_status(&mut obj, answer);
    obj.end(&mut w);
    w.finish()
}

/// The body of `GET /api/metrics/query` in JSON: Tempo's `QueryInstantResponse`, each series
/// with its one value (series without a value are left out).
pub(crate) fn query_instant_json(answer: &MetricsResponse) -> Vec<u8> {
    let series: Vec<(&TimeSeries, f64)> = instant_series(answer).collect();
    let mut w = JsonWriter::with_capacity(128 + series.len() * 128);
    let mut obj = w.begin_object();
    if !series.is_empty() {
        obj.key(&mut w, "series");
        w.array(&series, |w, (s, value)| {
            let mut obj = w.begin_object();
            w.labels(&mut obj, &s.labels);
            w.f64_field(&mut obj, "value", *value);
            obj.end(w);
        });
    }
    w.metrics_and_status(&mut obj, answer);
    obj.end(&mut w);
    w.finish()
}

/// The body of `GET /api/metrics/query_range` in protobuf.
pub(crate) fn query_range_proto(answer: &MetricsResponse) -> Vec<u8> {
    let (status, message) = status(answer);
    wire::QueryRangeResponse {
        series: answer
            .series
            .iter()
            .map(|s| wire::TimeSeries {
                labels: s.labels.iter().map(label).collect(),
                samples: s
                    .samples
                    .iter()
                    .map(|p| wire::Sample {
                        value: p.value,
                        timestamp_ms: p.timestamp_ms,
                    })
                    .collect(),
                exemplars: oldest_first(&s.exemplars)
                    .into_iter()
                    .map(|e| wire::Exemplar {
                        labels: exemplar_labels(e),
                        value: e.value,
                        timestamp_ms: e.timestamp_ms,
                    })
                    .collect(),
            })
            .collect(),
        metrics: Some(metrics(answer)),
        status: status as i32,
        message: message.to_owned(),
    }
    .encode_to_vec()
}

/// The body of `GET /api/metrics/query` in protobuf.
pub(crate) fn query_instant_proto(answer: &MetricsResponse) -> Vec<u8> {
    let (status, message) = status(answer);
    wire::QueryInstantResponse {
        series: instant_series(answer)
            .map(|(s, value)| wire::InstantSeries {
                labels: s.labels.iter().map(label).collect(),
                value,
            })
            .collect(),
        metrics: Some(metrics(answer)),
        status: status as i32,
        message: message.to_owned(),
    }
    .encode_to_vec()
}

/// The series of an instant answer and their values: the first sample of each (an instant
/// query has one interval); a series without one is left out, as Tempo leaves it.
fn instant_series(answer: &MetricsResponse) -> impl Iterator<Item = (&TimeSeries, f64)> {
    answer
        .series
        .iter()
        .filter_map(|s| s.samples.first().map(|p| (s, p.value)))
}

/// A series' exemplars oldest first, as Tempo sorts them.
fn oldest_first(exemplars: &[Exemplar]) -> Vec<&Exemplar> {
    let mut sorted: Vec<&Exemplar> = exemplars.iter().collect();
    sorted.sort_by_key(|e| e.timestamp_ms);
    sorted
}

/// Whether the answer is complete, and why not.
fn status(answer: &MetricsResponse) -> (PartialStatus, &str) {
    if answer.partial {
        (
            PartialStatus::Partial,
            answer.partial_reason.as_deref().unwrap_or_default(),
        )
    } else {
        (PartialStatus::Complete, "")
    }
}

/// A label as OTLP's `KeyValue`, typed as Tempo types it.
fn label(l: &Label) -> KeyValue {
    let value = match &l.value {
        LabelValue::Nil => Value::StringValue("nil".to_owned()),
        LabelValue::Str(s) => Value::StringValue(s.clone()),
        LabelValue::Int(i) => Value::IntValue(*i),
        LabelValue::Float(f) => Value::DoubleValue(*f),
        LabelValue::Bool(b) => Value::BoolValue(*b),
    };
    KeyValue {
        key: l.name.clone(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

/// An exemplar's labels: its trace's ID and its span's, in lowercase hex.
fn exemplar_labels(e: &Exemplar) -> Vec<KeyValue> {
    let mut labels = vec![KeyValue::string(TRACE_ID_LABEL, e.trace_id.to_hex())];
    if !e.span_id.is_empty() {
        labels.push(KeyValue::string(SPAN_ID_LABEL, hex::encode(&e.span_id)));
    }
    labels
}

/// What the query read, as Tempo's `SearchMetrics`.
fn metrics(answer: &MetricsResponse) -> wire::SearchMetrics {
    let m = &answer.metrics;
    let small = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    wire::SearchMetrics {
        inspected_traces: small(m.inspected_traces),
        inspected_bytes: m.inspected_bytes,
        total_blocks: small(m.total_blocks),
        completed_jobs: small(m.completed_jobs),
        total_jobs: small(m.total_jobs),
        total_block_bytes: 0,
        inspected_spans: m.inspected_spans,
    }
}

/// The messages of a metrics answer, on the shared writer.
impl JsonWriter {
    /// One `TimeSeries`: `labels`, `samples`, `exemplars`, each left out when empty.
    fn time_series(&mut self, s: &TimeSeries) {
        let mut obj = self.begin_object();
        self.labels(&mut obj, &s.labels);
        if !s.samples.is_empty() {
            obj.key(self, "samples");
            self.array(&s.samples, JsonWriter::sample);
        }
        if !s.exemplars.is_empty() {
            obj.key(self, "exemplars");
            self.array(&oldest_first(&s.exemplars), |w, e| w.exemplar(e));
        }
        obj.end(self);
    }

    /// `labels`, left out when there are none.
    fn labels(&mut self, obj: &mut Object, labels: &[Label]) {
        if !labels.is_empty() {
            obj.key(self, "labels");
            let labels: Vec<KeyValue> = labels.iter().map(label).collect();
            self.array(&labels, JsonWriter::key_value);
        }
    }

    /// One `Sample`, in the order of `tempo.proto`: `timestampMs`, then `value`.
    fn sample(&mut self, p: &Sample) {
        let mut obj = self.begin_object();
        self.i64_field(&mut obj, "timestampMs", p.timestamp_ms);
        self.f64_field(&mut obj, "value", p.value);
        obj.end(self);
    }

    /// One `Exemplar`: `labels`, `value`, `timestampMs`.
    fn exemplar(&mut self, e: &Exemplar) {
        let mut obj = self.begin_object();
        obj.key(self, "labels");
        self.array(&exemplar_labels(e), JsonWriter::key_value);
        self.f64_field(&mut obj, "value", e.value);
        self.i64_field(&mut obj, "timestampMs", e.timestamp_ms);
        obj.end(self);
    }

    /// `metrics` (always), then `status` and `message` when the answer is partial.
    fn metrics_and_status(&mut self, obj: &mut Object, answer: &MetricsResponse) {
        obj.key(self, "metrics");
        self.search_metrics(&answer.metrics);
        let (status, message) = status(answer);
        if status == PartialStatus::Partial {
            obj.key(self, "status");
            self.raw_string(status.name());
            self.string_field(obj, "message", message);
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use tempo_core::SearchMetrics;
    use tempo_core::model::TraceId;

    use super::*;
    use crate::render::json_text as text;

    fn answer() -> MetricsResponse {
        let mut trace = [0u8; 16];
        trace[15] = 0x2a;
        MetricsResponse {
            series: vec![
                TimeSeries {
                    labels: vec![Label {
                        name: "__name__".into(),
                        value: LabelValue::Str("rate".into()),
                    }],
                    samples: vec![
                        Sample {
                            timestamp_ms: 1_715_000_040_000,
                            value: 0.5,
                        },
                        Sample {
                            timestamp_ms: 1_715_000_100_000,
                            value: 0.0,
                        },
                    ],
                    exemplars: vec![Exemplar {
                        trace_id: TraceId(trace),
                        span_id: vec![0, 0, 0, 0, 0, 0, 0x12, 0x34],
                        value: f64::NAN,
                        timestamp_ms: 1_715_000_012_345,
                    }],
                },
                TimeSeries {
                    labels: vec![
                        Label {
                            name: "span.http.status_code".into(),
                            value: LabelValue::Int(200),
                        },
                        Label {
                            name: "resource.service.name".into(),
                            value: LabelValue::Nil,
                        },
                        Label {
                            name: "p".into(),
                            value: LabelValue::Float(0.9),
                        },
                        Label {
                            name: "span.retry".into(),
                            value: LabelValue::Bool(false),
                        },
                    ],
                    samples: vec![Sample {
                        timestamp_ms: 1_715_000_100_000,
                        value: 2.0,
                    }],
                    exemplars: Vec::new(),
                },
                // No sample: not an instant series.
                TimeSeries::default(),
            ],
            metrics: SearchMetrics {
                inspected_traces: 3,
                inspected_bytes: 12_345,
                inspected_spans: 420,
                total_blocks: 1,
                total_jobs: 3,
                completed_jobs: 3,
                skipped_jobs: 0,
            },
            partial: false,
            partial_reason: None,
        }
    }

    #[test]
    fn range_answers_as_tempo_writes_them() {
        let labels = concat!(
            r#"[{"key":"span.http.status_code","value":{"intValue":"200"}},"#,
            r#"{"key":"resource.service.name","value":{"stringValue":"nil"}},"#,
            r#"{"key":"p","value":{"doubleValue":0.9}},"#,
            r#"{"key":"span.retry","value":{"boolValue":false}}]"#
        );
        assert_eq!(
            text(query_range_json(&answer())),
            format!(
                concat!(
                    r#"{{"series":[{{"labels":[{{"key":"__name__","value":{{"stringValue":"rate"}}}}],"#,
                    r#""samples":[{{"timestampMs":"1715000040000","value":0.5}},{{"timestampMs":"1715000100000"}}],"#,
                    r#""exemplars":[{{"labels":[{{"key":"trace:id","value":{{"stringValue":"0000000000000000000000000000002a"}}}},"#,
                    r#"{{"key":"span:id","value":{{"stringValue":"0000000000001234"}}}}],"#,
                    r#""value":"NaN","timestampMs":"1715000012345"}}]}},"#,
                    r#"{{"labels":{labels},"samples":[{{"timestampMs":"1715000100000","value":2}}]}},{{}}],"#,
                    r#""metrics":{{"inspectedTraces":3,"inspectedBytes":"12345","totalBlocks":1,"completedJobs":3,"totalJobs":3,"inspectedSpans":"420"}}}}"#
                ),
                labels = labels
            )
        );
        let partial = MetricsResponse {
            partial: true,
            partial_reason: Some("Response exceeds maximum series limit of 1".into()),
            ..MetricsResponse::default()
        };
        assert_eq!(
            text(query_range_json(&partial)),
            r#"{"metrics":{},"status":"PARTIAL","message":"Response exceeds maximum series limit of 1"}"#
        );
        assert_eq!(
            text(query_range_json(&MetricsResponse::default())),
            r#"{"metrics":{}}"#
        );
    }

    #[test]
    fn instant_answers_as_tempo_writes_them() {
        let mut a = answer();
        a.series[0].samples.remove(0);
        assert_eq!(
            text(query_instant_json(&a)),
            concat!(
                r#"{"series":[{"labels":[{"key":"__name__","value":{"stringValue":"rate"}}]},"#,
                r#"{"labels":[{"key":"span.http.status_code","value":{"intValue":"200"}},"#,
                r#"{"key":"resource.service.name","value":{"stringValue":"nil"}},"#,
                r#"{"key":"p","value":{"doubleValue":0.9}},"#,
                r#"{"key":"span.retry","value":{"boolValue":false}}],"value":2}],"#,
                r#""metrics":{"inspectedTraces":3,"inspectedBytes":"12345","totalBlocks":1,"completedJobs":3,"totalJobs":3,"inspectedSpans":"420"}}"#
            )
        );
    }

    #[test]
    fn protobuf_answers_carry_tempo_field_numbers() {
        let a = answer();
        let decoded = wire::QueryRangeResponse::decode(query_range_proto(&a).as_slice()).unwrap();
        assert_eq!(decoded.series.len(), 3);
        assert_eq!(
            decoded.series[0].labels,
            vec![label(&a.series[0].labels[0])]
        );
        assert_eq!(
            decoded.series[0].samples,
            vec![
                wire::Sample {
                    value: 0.5,
                    timestamp_ms: 1_715_000_040_000
                },
                wire::Sample {
                    value: 0.0,
                    timestamp_ms: 1_715_000_100_000
                }
            ]
        );
        let e = &decoded.series[0].exemplars[0];
        assert!(e.value.is_nan());
        assert_eq!(e.timestamp_ms, 1_715_000_012_345);
        assert_eq!(e.labels, exemplar_labels(&a.series[0].exemplars[0]));
        let m = decoded.metrics.unwrap();
        assert_eq!(
            (m.inspected_traces, m.inspected_bytes, m.inspected_spans),
            (3, 12_345, 420)
        );
        assert_eq!(decoded.status, PartialStatus::Complete as i32);
        // A sample is `value = 1, timestamp_ms = 2`: 0x09 (field 1, fixed64), then 0x10
        // (field 2, varint).
        let sample = wire::Sample {
            value: 1.0,
            timestamp_ms: 5,
        }
        .encode_to_vec();
        assert_eq!(sample[0], 0x09);
        assert_eq!(sample[9..], [0x10, 5]);

        let instant =
            wire::QueryInstantResponse::decode(query_instant_proto(&a).as_slice()).unwrap();
        assert_eq!(instant.series.len(), 2);
        assert_eq!(instant.series[0].value, 0.5);
        assert_eq!(instant.series[1].value, 2.0);
        let partial = MetricsResponse {
            partial: true,
            partial_reason: Some("why".into()),
            ..MetricsResponse::default()
        };
        let decoded =
            wire::QueryInstantResponse::decode(query_instant_proto(&partial).as_slice()).unwrap();
        assert_eq!(
            (decoded.status, decoded.message.as_str()),
            (PartialStatus::Partial as i32, "why")
        );
    }
}
