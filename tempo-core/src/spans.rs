//! spans: what is one span, read back?
//!
//! A span as the store hands it to readers and writers, with the resource and scope it came
//! with, shared by the spans of one `ResourceSpans` and `ScopeSpans`. The head materializes
//! them from its packed spans, a block's row groups from their columns; the block writer,
//! compaction and the query engine take them alike.

use std::sync::Arc;

use crate::model::{InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, TracesData};

/// A resource shared by the spans of one `ResourceSpans`.
#[derive(Debug)]
pub(crate) struct SharedResource {
    pub(crate) resource: Option<Resource>,
    pub(crate) schema_url: String,
}

/// A scope shared by the spans of one `ScopeSpans`.
#[derive(Debug)]
pub(crate) struct SharedScope {
    pub(crate) scope: Option<InstrumentationScope>,
    pub(crate) schema_url: String,
}

/// One span with its resource and scope.
#[derive(Debug)]
pub(crate) struct StoredSpan {
    pub(crate) resource: Arc<SharedResource>,
    pub(crate) scope: Arc<SharedScope>,
    pub(crate) span: Span,
}

/// The earliest start and latest end of some spans, unix nanoseconds (`(0, 0)` for none).
pub(crate) fn time_bounds<'a>(spans: impl IntoIterator<Item = &'a StoredSpan>) -> (u64, u64) {
    spans
        .into_iter()
        .map(|s| (s.span.start_time_unix_nano, s.span.end_time_unix_nano))
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
        .unwrap_or((0, 0))
}

/// The root span of a trace, as an index into `spans`: of the spans without a parent span
/// ID, the one that starts first, the lowest span ID among those starting together (the
/// first of them, for a span delivered twice). A span whose parent never arrived is not a
/// root; a trace whose root never arrived has none.
///
/// A trace may have several spans without a parent (a batch job and the requests it starts
/// under one trace ID, a client that did not propagate the context): the one that started
/// first is taken for the trace's root, whatever order the spans arrived or are stored in, so
/// that the trace's root names (`rootServiceName`, `rootName`), the conditions on them and
/// search results agree wherever the trace is read from.
pub(crate) fn root_index<'a>(spans: impl IntoIterator<Item = &'a StoredSpan>) -> Option<usize> {
    spans
        .into_iter()
        .enumerate()
        .filter(|(_, s)| s.span.parent_span_id.is_empty())
        .min_by(|(i, a), (j, b)| {
            (a.span.start_time_unix_nano, &a.span.span_id, i).cmp(&(
                b.span.start_time_unix_nano,
                &b.span.span_id,
                j,
            ))
        })
        .map(|(i, _)| i)
}

/// Regroups spans by resource and scope, dropping repeated spans (same span ID and kind).
///
/// Spans of one resource and scope land under one `ResourceSpans` and one `ScopeSpans`,
/// however they are ordered and whichever batches they came in (equal resources and scopes
/// are one), in the order each resource, scope and span first appears.
pub(crate) fn assemble<'a>(spans: impl Iterator<Item = &'a StoredSpan>) -> TracesData {
    use std::collections::HashMap;
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<ResourceSpans> = Vec::new();
    // The distinct resources, and the distinct scopes of each, as shared by the spans.
    let mut resources: Vec<&SharedResource> = Vec::new();
    let mut scopes: Vec<Vec<&SharedScope>> = Vec::new();
    let mut resource_at: HashMap<*const SharedResource, usize> = HashMap::new();
    let mut scope_at: HashMap<(usize, *const SharedScope), usize> = HashMap::new();
    for hs in spans {
        if !seen.insert((hs.span.span_id.clone(), hs.span.kind)) {
            continue;
        }
        let r = *resource_at
            .entry(Arc::as_ptr(&hs.resource))
            .or_insert_with(|| {
                let equal = resources.iter().position(|r| {
                    r.resource == hs.resource.resource && r.schema_url == hs.resource.schema_url
                });
                equal.unwrap_or_else(|| {
                    resources.push(&hs.resource);
                    scopes.push(Vec::new());
                    out.push(ResourceSpans {
                        resource: hs.resource.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: hs.resource.schema_url.clone(),
                    });
                    resources.len() - 1
                })
            });
        let (Some(rs), Some(known)) = (out.get_mut(r), scopes.get_mut(r)) else {
            continue;
        };
        let s = *scope_at
            .entry((r, Arc::as_ptr(&hs.scope)))
            .or_insert_with(|| {
                let equal = known
                    .iter()
                    .position(|s| s.scope == hs.scope.scope && s.schema_url == hs.scope.schema_url);
                equal.unwrap_or_else(|| {
                    known.push(&hs.scope);
                    rs.scope_spans.push(ScopeSpans {
                        scope: hs.scope.scope.clone(),
                        spans: Vec::new(),
                        schema_url: hs.scope.schema_url.clone(),
                    });
                    known.len() - 1
                })
            });
        if let Some(ss) = rs.scope_spans.get_mut(s) {
            ss.spans.push(hs.span.clone());
        }
    }
    TracesData {
        resource_spans: out,
    }
}
