//! federation: how are the answers of several tenants combined?
//!
//! With multi-tenancy on, a query's `X-Scope-OrgID` may name several tenants separated by
//! `|` (`team-a|team-b`), as in Tempo's cross-tenant query federation (how the header is read
//! is the API's business: `crate::api`). Trace by ID, search, tag names and tag values take
//! them (TraceQL metrics do not: their series cannot in general be combined afterwards). Each
//! tenant is queried on its own, with its own data and limits, and the answers are combined:
//!
//! - trace by ID: the parts found in each tenant make one trace, each span once (by span ID
//!   and kind, as [`Store::find_trace`] combines the parts of a trace it holds);
//! - search: the matches of all tenants, the same trace's merged, newest first, then the
//!   limit applied once; what each search read is added up; the deadline is shared;
//! - tag names and values: the sorted union, then the limit applied once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use tempo_core::model::TracesData;
use tempo_core::{SearchRequest, SearchResponse, Store, TagScope, TagValue};

/// The trace of several tenants: the parts found, combined with each span once (the first
/// seen of each span ID and kind), and the bytes read to find them; `None` when no tenant
/// has it.
pub(crate) fn find_trace(
    store: &Store,
    tenants: &[String],
    id: tempo_core::model::TraceId,
    range: tempo_core::TimeRange,
) -> Result<Option<(TracesData, u64)>, tempo_core::FindError> {
    let mut parts = Vec::new();
    let mut inspected_bytes = 0;
    for tenant in tenants {
        if let Some(found) = store.find_trace_with_metrics(tenant, id, range)? {
            inspected_bytes += found.inspected_bytes;
            parts.push(found.trace);
        }
    }
    Ok(combine_traces(parts).map(|trace| (trace, inspected_bytes)))
}

/// One trace of the parts of it found in several places, each span once.
pub(crate) fn combine_traces(mut parts: Vec<TracesData>) -> Option<TracesData> {
    if parts.len() <= 1 {
        return parts.pop();
    }
    let mut seen = HashSet::new();
    let mut out = TracesData::default();
    for part in parts {
        for mut rs in part.resource_spans {
            for ss in &mut rs.scope_spans {
                ss.spans
                    .retain(|span| seen.insert((span.span_id.clone(), span.kind)));
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
            if !rs.scope_spans.is_empty() {
                out.resource_spans.push(rs);
            }
        }
    }
    Some(out)
}

/// The search of several tenants, each with the time left of the request's deadline; when
/// it runs out, the tenants not yet searched are skipped and the answer is partial.
pub(crate) fn search(
    store: &Store,
    tenants: &[String],
    req: &SearchRequest,
) -> Result<SearchResponse, tempo_core::SearchError> {
    if let [tenant] = tenants {
        return store.search(tenant, req);
    }
    let deadline = Instant::now() + req.deadline;
    let mut parts = Vec::with_capacity(tenants.len());
    let mut skipped = false;
    for tenant in tenants {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || req.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            skipped = true;
            break;
        }
        let mut req = req.clone();
        req.deadline = left;
        parts.push(store.search(tenant, &req)?);
    }
    let mut found = combine_search(parts, req.limit);
    if skipped {
        found.partial = true;
        found
            .partial_reason
            .get_or_insert_with(|| "the query's deadline passed or it was cancelled".into());
    }
    Ok(found)
}

/// The answers of several searches as one (see [`SearchResponse::combine`]).
pub(crate) fn combine_search(parts: Vec<SearchResponse>, limit: usize) -> SearchResponse {
    SearchResponse::combine(parts, limit)
}

/// The tag names of several tenants, per scope in the order of `scopes`: the sorted union
/// of each scope's names, at most `limit` a scope. A scope no tenant has names in is left
/// out.
pub(crate) fn tag_names(
    parts: Vec<Vec<(TagScope, Vec<String>)>>,
    scopes: &[TagScope],
    limit: usize,
) -> Vec<(TagScope, Vec<String>)> {
    let mut parts = parts;
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut union: BTreeMap<TagScope, BTreeSet<String>> = BTreeMap::new();
    for (scope, names) in parts.into_iter().flatten() {
        union.entry(scope).or_default().extend(names);
    }
    let order = if scopes.is_empty() {
        &TagScope::ALL[..]
    } else {
        scopes
    };
    order
        .iter()
        .filter_map(|scope| {
            let names = union.remove(scope)?;
            Some((*scope, names.into_iter().take(limit).collect()))
        })
        .collect()
}

/// The tag values of several tenants: the sorted union, at most `limit`.
pub(crate) fn tag_values(parts: Vec<Vec<TagValue>>, limit: usize) -> Vec<TagValue> {
    let mut parts = parts;
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let union: BTreeSet<TagValue> = parts.into_iter().flatten().collect();
    union.into_iter().take(limit).collect()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::collections::BTreeMap;

    use tempo_core::model::{ResourceSpans, ScopeSpans, Span, TraceId};
    use tempo_core::{SearchMetrics, ServiceStats, TraceMatch};

    use super::*;

    fn trace(spans: &[(u8, i32)]) -> TracesData {
        TracesData {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: spans
                        .iter()
                        .map(|&(id, kind)| Span {
                            span_id: vec![id; 8],
                            kind,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn ids(t: &TracesData) -> Vec<(u8, i32)> {
        t.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| (s.span_id[0], s.kind))
            .collect()
    }

    #[test]
    fn parts_of_a_trace_combine_with_each_span_once() {
        assert_eq!(combine_traces(Vec::new()), None);
        let one = trace(&[(1, 2), (1, 2)]);
        assert_eq!(combine_traces(vec![one.clone()]), Some(one));
        let both = combine_traces(vec![
            trace(&[(1, 2), (2, 3)]),
            trace(&[(2, 3), (2, 4)]),
            trace(&[(1, 2)]),
        ])
        .unwrap();
        assert_eq!(ids(&both), [(1, 2), (2, 3), (2, 4)]);
        // A part left without spans leaves no empty resource behind.
        assert_eq!(both.resource_spans.len(), 2);
    }

    fn hit(id: u8, start: u64, service: &str) -> TraceMatch {
        TraceMatch {
            trace_id: TraceId([id; 16]),
            root_service_name: None,
            root_trace_name: None,
            start_time_unix_nano: start,
            duration_nanos: 10,
            span_sets: Vec::new(),
            service_stats: BTreeMap::from([(
                service.to_owned(),
                ServiceStats {
                    span_count: 1,
                    error_count: 0,
                },
            )]),
        }
    }

    fn found(traces: Vec<TraceMatch>, inspected: u64) -> SearchResponse {
        SearchResponse {
            traces,
            metrics: SearchMetrics {
                inspected_traces: inspected,
                ..Default::default()
            },
            partial: false,
            partial_reason: None,
        }
    }

    #[test]
    fn searches_combine_newest_first_with_the_limit_applied_once() {
        let a = found(vec![hit(1, 300, "a"), hit(2, 100, "a")], 5);
        let b = found(vec![hit(3, 200, "b"), hit(1, 290, "b")], 7);
        let both = combine_search(vec![a, b], 2);
        let order: Vec<u8> = both.traces.iter().map(|t| t.trace_id.0[0]).collect();
        assert_eq!(order, [1, 3]);
        assert_eq!(both.metrics.inspected_traces, 12);
        // The trace both tenants hold is one match: both parts' spans and services.
        let merged = &both.traces[0];
        assert_eq!(merged.start_time_unix_nano, 290);
        assert_eq!(merged.duration_nanos, 20);
        assert_eq!(merged.service_stats.len(), 2);
        assert!(!both.partial);
    }

    #[test]
    fn tags_combine_as_sorted_unions_with_the_limit_applied_once() {
        let names = tag_names(
            vec![
                vec![(TagScope::Span, vec!["b".into(), "c".into()])],
                vec![
                    (TagScope::Resource, vec!["r".into()]),
                    (TagScope::Span, vec!["a".into(), "c".into()]),
                ],
            ],
            &[],
            2,
        );
        assert_eq!(
            names,
            [
                (TagScope::Resource, vec!["r".to_owned()]),
                (TagScope::Span, vec!["a".to_owned(), "b".to_owned()]),
            ]
        );
        let v = |s: &str| TagValue {
            kind: tempo_core::TagValueType::String,
            value: s.into(),
        };
        assert_eq!(
            tag_values(vec![vec![v("y"), v("z")], vec![v("x"), v("z")]], 2),
            [v("x"), v("y")]
        );
    }
}
