//! search: what bytes does Tempo send back for a search?
//!
//! The body of `GET /api/search`, Tempo's `SearchResponse`, with the rules of
//! [`jsonpb`](super::jsonpb): hex IDs, not base64 ones, for traces and spans.

use tempo_core::{MatchedSpan, SearchMetrics, SearchResponse, SpanSet, TraceMatch};

use super::jsonpb::{JsonWriter, search_span_id, search_trace_id};

/// What Tempo writes as the root service of a trace whose root span has not arrived.
pub(crate) const ROOT_SPAN_NOT_YET_RECEIVED: &str = "<root span not yet received>";

/// The body of `GET /api/search`: Tempo's `SearchResponse`,
/// `{"traces":[...],"metrics":{...}}`.
///
/// Each trace is a `TraceSearchMetadata`: `traceID` in hex with leading zeros trimmed,
/// `rootServiceName` (`<root span not yet received>` when the root span is missing),
/// `rootTraceName`, `startTimeUnixNano`, `durationMs` (whole milliseconds, truncated),
/// `spanSet` (deprecated: the first spanset), `spanSets` and `serviceStats` (keys sorted, as
/// jsonpb writes maps). `traces` is written even when empty (`[]`), as Tempo does. `metrics`
/// is always written, its zero counters left out; the store's `skipped_jobs` has no Tempo
/// field and is not written.
pub(crate) fn search_json(found: &SearchResponse) -> Vec<u8> {
    let mut w = JsonWriter::with_capacity(256 + found.traces.len() * 512);
    let mut obj = w.begin_object();
    // Written even when empty, as Tempo's query frontend does: `"traces":[]`.
    obj.key(&mut w, "traces");
    w.array(&found.traces, JsonWriter::trace_match);
    obj.key(&mut w, "metrics");
    w.search_metrics(&found.metrics);
    obj.end(&mut w);
    w.finish()
}

/// The messages of a search result, on the shared writer.
impl JsonWriter {
    /// One `TraceSearchMetadata`, fields in the order of `tempo.proto`.
    fn trace_match(&mut self, t: &TraceMatch) {
        let mut obj = self.begin_object();
        self.string_field(&mut obj, "traceID", &search_trace_id(&t.trace_id));
        self.string_field(
            &mut obj,
            "rootServiceName",
            t.root_service_name
                .as_deref()
                .unwrap_or(ROOT_SPAN_NOT_YET_RECEIVED),
        );
        self.string_field(
            &mut obj,
            "rootTraceName",
            t.root_trace_name.as_deref().unwrap_or_default(),
        );
        self.fixed64_field(&mut obj, "startTimeUnixNano", t.start_time_unix_nano);
        let duration_ms = u32::try_from(t.duration_nanos / 1_000_000).unwrap_or(u32::MAX);
        self.u32_field(&mut obj, "durationMs", duration_ms);
        if let Some(first) = t.span_sets.first() {
            obj.key(self, "spanSet");
            self.span_set(first);
            obj.key(self, "spanSets");
            self.array(&t.span_sets, JsonWriter::span_set);
        }
        if !t.service_stats.is_empty() {
            obj.key(self, "serviceStats");
            let mut map = self.begin_object();
            for (service, stats) in &t.service_stats {
                map.entry(self, service);
                let mut s = self.begin_object();
                self.u32_field(&mut s, "spanCount", stats.span_count);
                self.u32_field(&mut s, "errorCount", stats.error_count);
                s.end(self);
            }
            map.end(self);
        }
        obj.end(self);
    }

    fn span_set(&mut self, set: &SpanSet) {
        let mut obj = self.begin_object();
        if !set.spans.is_empty() {
            obj.key(self, "spans");
            self.array(&set.spans, JsonWriter::matched_span);
        }
        let matched = u32::try_from(set.matched).unwrap_or(u32::MAX);
        self.u32_field(&mut obj, "matched", matched);
        self.attributes(&mut obj, &set.attributes, 0);
        obj.end(self);
    }

    fn matched_span(&mut self, span: &MatchedSpan) {
        let mut obj = self.begin_object();
        self.string_field(&mut obj, "spanID", &search_span_id(&span.span_id));
        self.string_field(&mut obj, "name", &span.name);
        self.fixed64_field(&mut obj, "startTimeUnixNano", span.start_time_unix_nano);
        self.fixed64_field(&mut obj, "durationNanos", span.duration_nanos);
        self.attributes(&mut obj, &span.attributes, 0);
        obj.end(self);
    }

    /// Tempo's `SearchMetrics`: `uint32` counters as numbers, `uint64` ones as strings.
    pub(super) fn search_metrics(&mut self, m: &SearchMetrics) {
        let small = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        let mut obj = self.begin_object();
        self.u32_field(&mut obj, "inspectedTraces", small(m.inspected_traces));
        self.fixed64_field(&mut obj, "inspectedBytes", m.inspected_bytes);
        self.u32_field(&mut obj, "totalBlocks", small(m.total_blocks));
        self.u32_field(&mut obj, "completedJobs", small(m.completed_jobs));
        self.u32_field(&mut obj, "totalJobs", small(m.total_jobs));
        self.fixed64_field(&mut obj, "inspectedSpans", m.inspected_spans);
        obj.end(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempo_core::model::{KeyValue, TraceId};

    use crate::render::json_text as text;

    #[test]
    fn search_results_as_tempo_writes_them() {
        use std::collections::BTreeMap;
        use tempo_core::ServiceStats;
        let mut id = [0u8; 16];
        id[13..].copy_from_slice(&[0x0a, 0xbc, 0xde]);
        let set = SpanSet {
            spans: vec![MatchedSpan {
                span_id: vec![0, 0, 0, 0, 0, 0, 0x12, 0x34],
                name: "GET /".into(),
                start_time_unix_nano: 1_700_000_000_000_000_000,
                duration_nanos: 1_500_000,
                attributes: vec![KeyValue::int("http.status_code", 500)],
            }],
            matched: 4,
            attributes: Vec::new(),
        };
        let found = SearchResponse {
            traces: vec![
                TraceMatch {
                    trace_id: TraceId(id),
                    root_service_name: Some("cart".into()),
                    root_trace_name: Some("GET /".into()),
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    duration_nanos: 2_999_999,
                    span_sets: vec![set],
                    service_stats: BTreeMap::from([
                        (
                            "db".to_owned(),
                            ServiceStats {
                                span_count: 1,
                                error_count: 0,
                            },
                        ),
                        (
                            "cart<>".to_owned(),
                            ServiceStats {
                                span_count: 3,
                                error_count: 2,
                            },
                        ),
                    ]),
                },
                TraceMatch {
                    trace_id: TraceId([0xff; 16]),
                    root_service_name: None,
                    root_trace_name: None,
                    start_time_unix_nano: 0,
                    duration_nanos: 999_999,
                    span_sets: Vec::new(),
                    service_stats: BTreeMap::new(),
                },
            ],
            metrics: SearchMetrics {
                inspected_traces: 2,
                inspected_bytes: 1 << 40,
                inspected_spans: 9,
                total_blocks: 0,
                total_jobs: 1,
                completed_jobs: 1,
                skipped_jobs: 1,
            },
            partial: false,
            partial_reason: None,
        };
        let set_json = r#"{"spans":[{"spanID":"0000000000001234","name":"GET /","startTimeUnixNano":"1700000000000000000","durationNanos":"1500000","attributes":[{"key":"http.status_code","value":{"intValue":"500"}}]}],"matched":4}"#;
        assert_eq!(
            text(search_json(&found)),
            format!(
                concat!(
                    r#"{{"traces":[{{"traceID":"abcde","rootServiceName":"cart","rootTraceName":"GET /","#,
                    r#""startTimeUnixNano":"1700000000000000000","durationMs":2,"spanSet":{set},"spanSets":[{set}],"#,
                    r#""serviceStats":{{"cart\u003c\u003e":{{"spanCount":3,"errorCount":2}},"db":{{"spanCount":1}}}}}},"#,
                    r#"{{"traceID":"ffffffffffffffffffffffffffffffff","rootServiceName":"\u003croot span not yet received\u003e"}}],"#,
                    r#""metrics":{{"inspectedTraces":2,"inspectedBytes":"1099511627776","completedJobs":1,"totalJobs":1,"inspectedSpans":"9"}}}}"#
                ),
                set = set_json
            )
        );
        assert_eq!(
            text(search_json(&SearchResponse::default())),
            r#"{"traces":[],"metrics":{}}"#
        );
        assert_eq!(search_trace_id(&TraceId([0; 16])), "");
        assert_eq!(
            search_span_id(&[1, 2, 3, 4, 5, 6, 7, 8]),
            "0102030405060708"
        );
        assert_eq!(
            search_span_id(&[0, 0, 0, 0, 0, 0, 0, 0]),
            "0000000000000000"
        );
        assert_eq!(
            search_span_id(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab]),
            "00000000000000ab"
        );
    }
}
