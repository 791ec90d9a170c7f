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

/// Regroups spans by resource and scope, dropping repeated spans (same span ID and kind).
pub(crate) fn assemble<'a>(spans: impl Iterator<Item = &'a StoredSpan>) -> TracesData {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<ResourceSpans> = Vec::new();
    let mut last_resource: Option<*const SharedResource> = None;
    let mut last_scope: Option<*const SharedScope> = None;
    for hs in spans {
        if !seen.insert((hs.span.span_id.clone(), hs.span.kind)) {
            continue;
        }
        let resource_ptr = Arc::as_ptr(&hs.resource);
        let scope_ptr = Arc::as_ptr(&hs.scope);
        if last_resource != Some(resource_ptr) {
            out.push(ResourceSpans {
                resource: hs.resource.resource.clone(),
                scope_spans: Vec::new(),
                schema_url: hs.resource.schema_url.clone(),
            });
            last_resource = Some(resource_ptr);
            last_scope = None;
        }
        let Some(rs) = out.last_mut() else { continue };
        if last_scope != Some(scope_ptr) {
            rs.scope_spans.push(ScopeSpans {
                scope: hs.scope.scope.clone(),
                spans: Vec::new(),
                schema_url: hs.scope.schema_url.clone(),
            });
            last_scope = Some(scope_ptr);
        }
        if let Some(ss) = rs.scope_spans.last_mut() {
            ss.spans.push(hs.span.clone());
        }
    }
    TracesData {
        resource_spans: out,
    }
}
