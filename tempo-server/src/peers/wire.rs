//! wire: what do servers on the same bucket send each other?
//!
//! The routes a server answers for its peers, and the protobuf messages of their requests
//! and answers (our own, not Tempo's: Tempo's search messages round durations to
//! milliseconds, and the answers must merge exactly), with their conversions from and to
//! the store's types. A metrics answer is the store's own encoding of its running values
//! ([`tempo_core::MetricsPartial::encode`]).

use std::time::Duration;

use tempo_core::model::{KeyValue, TraceId};
use tempo_core::{
    MatchedSpan, MetricsRequest, SearchMetrics, SearchRequest, SearchResponse, ServiceStats,
    SpanSet, TagScope, TagValue, TagValueType, TimeRange, TraceMatch,
};

/// `GET`: the part of a trace in the head, an OTLP `TracesData`, or 404.
pub(crate) const TRACE_ROUTE: &str = "/internal/head/traces/{traceID}";
/// `POST` a [`HeadSearchRequest`]: a [`HeadSearchResponse`].
pub(crate) const SEARCH_ROUTE: &str = "/internal/head/search";
/// `POST` a [`HeadTagsRequest`]: a [`HeadTagNamesResponse`] or a [`HeadTagValuesResponse`].
pub(crate) const TAGS_ROUTE: &str = "/internal/head/tags";
/// `POST` a [`HeadMetricsRequest`]: the encoded [`tempo_core::MetricsPartial`].
pub(crate) const METRICS_ROUTE: &str = "/internal/head/metrics";

/// A search of the head.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HeadSearchRequest {
    /// The TraceQL query.
    #[prost(string, tag = "1")]
    pub(crate) query: String,
    /// Traces returned at most.
    #[prost(uint64, tag = "2")]
    pub(crate) limit: u64,
    /// Spans per spanset returned at most.
    #[prost(uint64, tag = "3")]
    pub(crate) spans_per_spanset: u64,
    /// Start of the range, unix nanoseconds.
    #[prost(uint64, tag = "4")]
    pub(crate) start: u64,
    /// End of the range, unix nanoseconds.
    #[prost(uint64, tag = "5")]
    pub(crate) end: u64,
    /// Shortest trace, nanoseconds.
    #[prost(uint64, optional, tag = "6")]
    pub(crate) min_duration: Option<u64>,
    /// Longest trace, nanoseconds.
    #[prost(uint64, optional, tag = "7")]
    pub(crate) max_duration: Option<u64>,
    /// The search's deadline, milliseconds.
    #[prost(uint64, tag = "8")]
    pub(crate) deadline_ms: u64,
}

/// What a search of the head found.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HeadSearchResponse {
    /// The matching traces.
    #[prost(message, repeated, tag = "1")]
    pub(crate) traces: Vec<Match>,
    /// What the search read.
    #[prost(message, optional, tag = "2")]
    pub(crate) metrics: Option<Metrics>,
    /// Why the search stopped early, if it did.
    #[prost(string, optional, tag = "3")]
    pub(crate) partial_reason: Option<String>,
}

/// A matching trace.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Match {
    /// Its ID, 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) trace_id: Vec<u8>,
    /// The root span's service, if the root was received.
    #[prost(string, optional, tag = "2")]
    pub(crate) root_service_name: Option<String>,
    /// The root span's name, if the root was received.
    #[prost(string, optional, tag = "3")]
    pub(crate) root_trace_name: Option<String>,
    /// Earliest start, unix nanoseconds.
    #[prost(uint64, tag = "4")]
    pub(crate) start: u64,
    /// Duration, nanoseconds.
    #[prost(uint64, tag = "5")]
    pub(crate) duration: u64,
    /// The spansets that matched.
    #[prost(message, repeated, tag = "6")]
    pub(crate) span_sets: Vec<Set>,
    /// Spans and errors per service.
    #[prost(message, repeated, tag = "7")]
    pub(crate) service_stats: Vec<Stats>,
}

/// A spanset.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Set {
    /// Its spans shown.
    #[prost(message, repeated, tag = "1")]
    pub(crate) spans: Vec<SetSpan>,
    /// Spans that matched.
    #[prost(uint64, tag = "2")]
    pub(crate) matched: u64,
    /// The spanset's own attributes.
    #[prost(message, repeated, tag = "3")]
    pub(crate) attributes: Vec<KeyValue>,
}

/// A span of a spanset.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SetSpan {
    /// Its ID.
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) span_id: Vec<u8>,
    /// Its name.
    #[prost(string, tag = "2")]
    pub(crate) name: String,
    /// Start, unix nanoseconds.
    #[prost(uint64, tag = "3")]
    pub(crate) start: u64,
    /// Duration, nanoseconds.
    #[prost(uint64, tag = "4")]
    pub(crate) duration: u64,
    /// The attributes the query named.
    #[prost(message, repeated, tag = "5")]
    pub(crate) attributes: Vec<KeyValue>,
}

/// Spans and errors of one service.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Stats {
    /// The service.
    #[prost(string, tag = "1")]
    pub(crate) service: String,
    /// Its spans.
    #[prost(uint32, tag = "2")]
    pub(crate) span_count: u32,
    /// Its error spans.
    #[prost(uint32, tag = "3")]
    pub(crate) error_count: u32,
}

/// What a search read.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Metrics {
    /// Traces evaluated.
    #[prost(uint64, tag = "1")]
    pub(crate) inspected_traces: u64,
    /// Bytes read.
    #[prost(uint64, tag = "2")]
    pub(crate) inspected_bytes: u64,
    /// Spans evaluated.
    #[prost(uint64, tag = "3")]
    pub(crate) inspected_spans: u64,
    /// Blocks overlapping.
    #[prost(uint64, tag = "4")]
    pub(crate) total_blocks: u64,
    /// Sources to read.
    #[prost(uint64, tag = "5")]
    pub(crate) total_jobs: u64,
    /// Sources read.
    #[prost(uint64, tag = "6")]
    pub(crate) completed_jobs: u64,
    /// Sources skipped.
    #[prost(uint64, tag = "7")]
    pub(crate) skipped_jobs: u64,
}

/// What a tag lookup of the head asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum TagsKind {
    /// Tag names per scope.
    Names = 0,
    /// Values of a tag, a TraceQL identifier.
    Values = 1,
    /// Values of a tag named literally (the first tag API's).
    LiteralValues = 2,
}

/// A tag lookup of the head.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HeadTagsRequest {
    /// What is asked.
    #[prost(enumeration = "TagsKind", tag = "1")]
    pub(crate) kind: i32,
    /// For names: the scopes listed.
    #[prost(string, repeated, tag = "2")]
    pub(crate) scopes: Vec<String>,
    /// For values: the tag.
    #[prost(string, tag = "3")]
    pub(crate) tag: String,
    /// The query filtering spans, if any.
    #[prost(string, optional, tag = "4")]
    pub(crate) filter: Option<String>,
    /// Start of the range, unix nanoseconds.
    #[prost(uint64, tag = "5")]
    pub(crate) start: u64,
    /// End of the range, unix nanoseconds.
    #[prost(uint64, tag = "6")]
    pub(crate) end: u64,
    /// Names per scope, or values, at most.
    #[prost(uint64, tag = "7")]
    pub(crate) limit: u64,
}

/// Tag names of the head, per scope.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HeadTagNamesResponse {
    /// The scopes with names.
    #[prost(message, repeated, tag = "1")]
    pub(crate) scopes: Vec<ScopeNames>,
}

/// The names of one scope.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ScopeNames {
    /// The scope, as TraceQL writes it.
    #[prost(string, tag = "1")]
    pub(crate) scope: String,
    /// Its names.
    #[prost(string, repeated, tag = "2")]
    pub(crate) names: Vec<String>,
}

/// Values of a tag in the head.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HeadTagValuesResponse {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub(crate) values: Vec<Value>,
}

/// One value of a tag.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Value {
    /// Its type, as Tempo's v2 API names it.
    #[prost(string, tag = "1")]
    pub(crate) kind: String,
    /// The value, as text.
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// A metrics query over the head: the store's request, field by field, so that both sides
/// use the same time axis.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HeadMetricsRequest {
    /// The TraceQL metrics query.
    #[prost(string, tag = "1")]
    pub(crate) query: String,
    /// Start, unix nanoseconds.
    #[prost(uint64, tag = "2")]
    pub(crate) start: u64,
    /// End, unix nanoseconds.
    #[prost(uint64, tag = "3")]
    pub(crate) end: u64,
    /// Step, nanoseconds.
    #[prost(uint64, tag = "4")]
    pub(crate) step: u64,
    /// Whether the query is instant.
    #[prost(bool, tag = "5")]
    pub(crate) instant: bool,
    /// Exemplars asked for.
    #[prost(uint64, tag = "6")]
    pub(crate) exemplars: u64,
    /// The most exemplars a hint may ask for.
    #[prost(uint64, tag = "7")]
    pub(crate) max_exemplars: u64,
    /// The query's deadline, milliseconds.
    #[prost(uint64, tag = "8")]
    pub(crate) deadline_ms: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl HeadSearchRequest {
    /// The message for `req`, to be answered within `deadline`.
    pub(crate) fn of(req: &SearchRequest, deadline: Duration) -> HeadSearchRequest {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        HeadSearchRequest {
            query: req.query.clone(),
            limit: req.limit as u64,
            spans_per_spanset: req.spans_per_spanset as u64,
            start: req.range.start,
            end: req.range.end,
            min_duration: req.min_duration.map(nanos),
            max_duration: req.max_duration.map(nanos),
            deadline_ms: millis(req.deadline.min(deadline)),
        }
    }

    /// The store's request.
    pub(crate) fn request(&self) -> SearchRequest {
        let mut req = SearchRequest::new(self.query.clone())
            .limit(usize::try_from(self.limit).unwrap_or(usize::MAX))
            .spans_per_spanset(usize::try_from(self.spans_per_spanset).unwrap_or(usize::MAX))
            .range(TimeRange {
                start: self.start,
                end: self.end,
            });
        req.min_duration = self.min_duration.map(Duration::from_nanos);
        req.max_duration = self.max_duration.map(Duration::from_nanos);
        req.deadline = Duration::from_millis(self.deadline_ms);
        req
    }
}

impl HeadSearchResponse {
    /// The message of a search's answer.
    pub(crate) fn of(found: &SearchResponse) -> HeadSearchResponse {
        let m = &found.metrics;
        HeadSearchResponse {
            traces: found
                .traces
                .iter()
                .map(|t| Match {
                    trace_id: t.trace_id.0.to_vec(),
                    root_service_name: t.root_service_name.clone(),
                    root_trace_name: t.root_trace_name.clone(),
                    start: t.start_time_unix_nano,
                    duration: t.duration_nanos,
                    span_sets: t
                        .span_sets
                        .iter()
                        .map(|s| Set {
                            spans: s
                                .spans
                                .iter()
                                .map(|s| SetSpan {
                                    span_id: s.span_id.clone(),
                                    name: s.name.clone(),
                                    start: s.start_time_unix_nano,
                                    duration: s.duration_nanos,
                                    attributes: s.attributes.clone(),
                                })
                                .collect(),
                            matched: s.matched,
                            attributes: s.attributes.clone(),
                        })
                        .collect(),
                    service_stats: t
                        .service_stats
                        .iter()
                        .map(|(service, s)| Stats {
                            service: service.clone(),
                            span_count: s.span_count,
                            error_count: s.error_count,
                        })
                        .collect(),
                })
                .collect(),
            metrics: Some(Metrics {
                inspected_traces: m.inspected_traces,
                inspected_bytes: m.inspected_bytes,
                inspected_spans: m.inspected_spans,
                total_blocks: m.total_blocks,
                total_jobs: m.total_jobs,
                completed_jobs: m.completed_jobs,
                skipped_jobs: m.skipped_jobs,
            }),
            partial_reason: found
                .partial
                .then(|| found.partial_reason.clone().unwrap_or_default()),
        }
    }

    /// The store's answer; an error names what is malformed.
    pub(crate) fn answer(self) -> Result<SearchResponse, String> {
        let traces = self
            .traces
            .into_iter()
            .map(|t| {
                let trace_id = TraceId::from_slice(&t.trace_id)
                    .ok_or_else(|| format!("a trace ID of {} bytes", t.trace_id.len()))?;
                Ok(TraceMatch {
                    trace_id,
                    root_service_name: t.root_service_name,
                    root_trace_name: t.root_trace_name,
                    start_time_unix_nano: t.start,
                    duration_nanos: t.duration,
                    span_sets: t
                        .span_sets
                        .into_iter()
                        .map(|s| SpanSet {
                            spans: s
                                .spans
                                .into_iter()
                                .map(|s| MatchedSpan {
                                    span_id: s.span_id,
                                    name: s.name,
                                    start_time_unix_nano: s.start,
                                    duration_nanos: s.duration,
                                    attributes: s.attributes,
                                })
                                .collect(),
                            matched: s.matched,
                            attributes: s.attributes,
                        })
                        .collect(),
                    service_stats: t
                        .service_stats
                        .into_iter()
                        .map(|s| {
                            (
                                s.service,
                                ServiceStats {
                                    span_count: s.span_count,
                                    error_count: s.error_count,
                                },
                            )
                        })
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let m = self.metrics.unwrap_or_default();
        Ok(SearchResponse {
            traces,
            metrics: SearchMetrics {
                inspected_traces: m.inspected_traces,
                inspected_bytes: m.inspected_bytes,
                inspected_spans: m.inspected_spans,
                total_blocks: m.total_blocks,
                total_jobs: m.total_jobs,
                completed_jobs: m.completed_jobs,
                skipped_jobs: m.skipped_jobs,
            },
            partial: self.partial_reason.is_some(),
            partial_reason: self.partial_reason,
        })
    }
}

impl HeadTagNamesResponse {
    /// The message of names per scope.
    pub(crate) fn of(found: &[(TagScope, Vec<String>)]) -> HeadTagNamesResponse {
        HeadTagNamesResponse {
            scopes: found
                .iter()
                .map(|(scope, names)| ScopeNames {
                    scope: scope.as_str().to_owned(),
                    names: names.clone(),
                })
                .collect(),
        }
    }

    /// The names per scope; an error names a scope not known.
    pub(crate) fn answer(self) -> Result<Vec<(TagScope, Vec<String>)>, String> {
        self.scopes
            .into_iter()
            .map(|s| {
                TagScope::parse(&s.scope)
                    .map(|scope| (scope, s.names))
                    .ok_or_else(|| format!("an unknown scope {:?}", s.scope))
            })
            .collect()
    }
}

/// The types of tag values, to read their names back.
const VALUE_TYPES: [TagValueType; 6] = [
    TagValueType::String,
    TagValueType::Int,
    TagValueType::Float,
    TagValueType::Bool,
    TagValueType::Duration,
    TagValueType::Keyword,
];

impl HeadTagValuesResponse {
    /// The message of tag values.
    pub(crate) fn of(values: &[TagValue]) -> HeadTagValuesResponse {
        HeadTagValuesResponse {
            values: values
                .iter()
                .map(|v| Value {
                    kind: v.kind.as_str().to_owned(),
                    value: v.value.clone(),
                })
                .collect(),
        }
    }

    /// The values; an error names a type not known.
    pub(crate) fn answer(self) -> Result<Vec<TagValue>, String> {
        self.values
            .into_iter()
            .map(|v| {
                VALUE_TYPES
                    .into_iter()
                    .find(|t| t.as_str() == v.kind)
                    .map(|kind| TagValue {
                        kind,
                        value: v.value,
                    })
                    .ok_or_else(|| format!("an unknown value type {:?}", v.kind))
            })
            .collect()
    }
}

impl HeadMetricsRequest {
    /// The message for `req`, to be answered within `deadline`.
    pub(crate) fn of(req: &MetricsRequest, deadline: Duration) -> HeadMetricsRequest {
        HeadMetricsRequest {
            query: req.query.clone(),
            start: req.start,
            end: req.end,
            step: req.step,
            instant: req.instant,
            exemplars: req.exemplars as u64,
            max_exemplars: req.max_exemplars as u64,
            deadline_ms: millis(req.deadline.min(deadline)),
        }
    }

    /// The store's request.
    pub(crate) fn request(&self) -> MetricsRequest {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let mut req = if self.instant {
            MetricsRequest::instant(self.query.clone(), self.start, self.end)
        } else {
            MetricsRequest::range(self.query.clone(), self.start, self.end)
        };
        req.step = self.step;
        req.exemplars = size(self.exemplars);
        req.max_exemplars = size(self.max_exemplars);
        req.deadline = Duration::from_millis(self.deadline_ms);
        req
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;

    use super::*;

    #[test]
    fn a_search_answer_comes_back_as_it_was() {
        let found = SearchResponse {
            traces: vec![TraceMatch {
                trace_id: TraceId([7; 16]),
                root_service_name: Some("cart".into()),
                root_trace_name: None,
                start_time_unix_nano: 1_234_567_891,
                duration_nanos: 999_999,
                span_sets: vec![SpanSet {
                    spans: vec![MatchedSpan {
                        span_id: vec![1; 8],
                        name: "GET /".into(),
                        start_time_unix_nano: 1_234_567_891,
                        duration_nanos: 5,
                        attributes: vec![KeyValue::int("n", 3)],
                    }],
                    matched: 4,
                    attributes: Vec::new(),
                }],
                service_stats: BTreeMap::from([(
                    "cart".to_owned(),
                    ServiceStats {
                        span_count: 2,
                        error_count: 1,
                    },
                )]),
            }],
            metrics: SearchMetrics {
                inspected_traces: 3,
                ..Default::default()
            },
            partial: true,
            partial_reason: Some("deadline".into()),
        };
        let bytes = HeadSearchResponse::of(&found).encode_to_vec();
        let back = HeadSearchResponse::decode(&bytes[..])
            .unwrap()
            .answer()
            .unwrap();
        assert_eq!(back, found);
    }

    #[test]
    fn requests_and_tags_come_back_as_they_were() {
        let req = SearchRequest::new("{ }")
            .limit(7)
            .range(TimeRange { start: 5, end: 9 });
        let back = HeadSearchRequest::of(&req, Duration::from_secs(2)).request();
        assert_eq!(
            (back.query.as_str(), back.limit, back.range, back.deadline),
            ("{ }", 7, req.range, Duration::from_secs(2))
        );
        let m = MetricsRequest::range("{ } | rate()", 10, 1_000_000_000_000).exemplars(3);
        let back = HeadMetricsRequest::of(&m, Duration::from_secs(1)).request();
        assert_eq!(
            (
                back.start,
                back.end,
                back.step,
                back.instant,
                back.exemplars
            ),
            (m.start, m.end, m.step, false, 3)
        );
        let names = vec![(TagScope::Span, vec!["a".to_owned()])];
        assert_eq!(HeadTagNamesResponse::of(&names).answer().unwrap(), names);
        let values: Vec<TagValue> = VALUE_TYPES
            .into_iter()
            .map(|kind| TagValue {
                kind,
                value: "x".into(),
            })
            .collect();
        assert_eq!(HeadTagValuesResponse::of(&values).answer().unwrap(), values);
    }
}
