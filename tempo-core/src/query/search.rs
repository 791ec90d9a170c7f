//! search: which traces match, newest first?
//!
//! A search reads a tenant's sources ([`SpanSource`]: the head and every row group) on the
//! query pool, newest first. Each source is checked against the query's [`Need`] before it
//! decodes anything, then decodes only the attributes the query reads; its traces are
//! evaluated newest first by the [`Compiled`] query, and a source or trace older than every
//! kept match is skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tempo_traceql::{FieldRef, Scope};

use super::eval::{Compiled, Spanset, TraceView, service_name};
use super::pool;
use super::source::{Fields, Need, SourceError, SpanSource};
use super::stop::{BYTES_PER_DECODED_SPAN, Stop, StopReason};
use super::{
    MatchedSpan, SearchMetrics, SearchRequest, SearchResponse, ServiceStats, SpanSet, TraceMatch,
};
use crate::model::{KeyValue, TraceId};
use crate::spans::StoredSpan;

/// The newest `limit` matches seen so far, by trace start.
pub(crate) struct TopN {
    limit: usize,
    traces: Vec<TraceMatch>,
}

impl TopN {
    fn new(limit: usize) -> TopN {
        TopN {
            limit,
            traces: Vec::new(),
        }
    }

    /// The oldest start still kept, once full.
    fn floor(&self) -> Option<u64> {
        (self.traces.len() >= self.limit)
            .then(|| self.traces.iter().map(|t| t.start_time_unix_nano).min())
            .flatten()
    }

    fn offer(&mut self, m: TraceMatch) {
        if let Some(existing) = self.traces.iter_mut().find(|t| t.trace_id == m.trace_id) {
            existing.merge(m);
            return;
        }
        if self.limit == 0 {
            return;
        }
        if self.traces.len() >= self.limit {
            let Some((oldest, start)) = self
                .traces
                .iter()
                .enumerate()
                .map(|(i, t)| (i, (t.start_time_unix_nano, t.trace_id)))
                .min_by_key(|(_, k)| *k)
            else {
                return;
            };
            if (m.start_time_unix_nano, m.trace_id) <= start {
                return;
            }
            self.traces.swap_remove(oldest);
        }
        self.traces.push(m);
    }

    fn finish(mut self) -> Vec<TraceMatch> {
        sort_newest_first(&mut self.traces);
        self.traces
    }

    /// The traces kept so far, newest first.
    fn snapshot(&self) -> Vec<TraceMatch> {
        let mut traces = self.traces.clone();
        sort_newest_first(&mut traces);
        traces
    }
}

/// Sorts traces newest start first, then by ID.
fn sort_newest_first(traces: &mut [TraceMatch]) {
    traces.sort_by(|a, b| {
        b.start_time_unix_nano
            .cmp(&a.start_time_unix_nano)
            .then(a.trace_id.cmp(&b.trace_id))
    });
}

/// Per-search state shared by the workers.
struct Run<'a> {
    compiled: &'a Compiled,
    req: &'a SearchRequest,
    need: Need,
    stop: Stop,
    top: Mutex<TopN>,
    metrics: Mutex<SearchMetrics>,
    /// When the running answer was last reported.
    reported: Mutex<Instant>,
}

/// The least time between two reports of a search's running answer: a search over many
/// small sources does not copy its kept traces after every one.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

impl Run<'_> {
    /// Evaluates one trace and offers it to the results.
    fn trace(&self, id: TraceId, spans: &[StoredSpan], metrics: &mut SearchMetrics) {
        metrics.inspected_traces += 1;
        metrics.inspected_spans += spans.len() as u64;
        let view = TraceView::new(id, spans);
        if view.end < self.req.range.start || view.start > self.req.range.end {
            return;
        }
        let duration = view.duration();
        if self
            .req
            .min_duration
            .is_some_and(|d| (duration as u128) < d.as_nanos())
            || self
                .req
                .max_duration
                .is_some_and(|d| (duration as u128) > d.as_nanos())
        {
            return;
        }
        if let Some(floor) = self.top.lock().floor()
            && view.start < floor
        {
            // Older than every kept match: it cannot make the cut.
            return;
        }
        let sets = match self.compiled.run(&view, &self.stop) {
            Ok(sets) if !sets.is_empty() => sets,
            _ => return,
        };
        let m = self.to_match(&view, sets);
        self.top.lock().offer(m);
    }

    fn to_match(&self, view: &TraceView<'_>, sets: Vec<Spanset>) -> TraceMatch {
        let mut stats: BTreeMap<String, ServiceStats> = BTreeMap::new();
        for s in view.distinct().map(|i| &view.spans[i as usize]) {
            let e = stats
                .entry(service_name(s).unwrap_or("").to_owned())
                .or_default();
            e.span_count += 1;
            if s.span.status.as_ref().is_some_and(|st| st.code == 2) {
                e.error_count += 1;
            }
        }
        let span_sets = sets
            .into_iter()
            .map(|ss| {
                let mut order = ss.spans.clone();
                order.sort_by_key(|&i| view.spans[i as usize].span.start_time_unix_nano);
                let spans = order
                    .iter()
                    .take(self.req.spans_per_spanset)
                    .map(|&i| {
                        let s = &view.spans[i as usize].span;
                        MatchedSpan {
                            span_id: s.span_id.clone(),
                            name: s.name.clone(),
                            start_time_unix_nano: s.start_time_unix_nano,
                            duration_nanos: s
                                .end_time_unix_nano
                                .saturating_sub(s.start_time_unix_nano),
                            attributes: self.compiled.shown_attributes(view, i as usize, &ss.marks),
                        }
                    })
                    .collect();
                SpanSet {
                    spans,
                    matched: ss.spans.len() as u64,
                    attributes: ss
                        .attrs
                        .iter()
                        .map(|(k, v)| KeyValue {
                            key: k.clone(),
                            value: Some(v.to_shown()),
                        })
                        .collect(),
                }
            })
            .collect();
        TraceMatch {
            trace_id: view.id,
            root_service_name: view.root_service().map(str::to_owned),
            root_trace_name: view.root_name().map(str::to_owned),
            start_time_unix_nano: view.start,
            duration_nanos: view.duration(),
            span_sets,
            service_stats: stats,
        }
    }
}

/// The attributes a query reads, so only those are decoded.
pub(crate) fn fields_of(fields: &[FieldRef]) -> Fields {
    // `service.name` is always needed for the root service and the per-service stats.
    let mut out = Fields {
        resource: vec!["service.name".to_owned()],
        ..Fields::default()
    };
    for f in fields {
        if let FieldRef::Attribute(a) = f {
            if matches!(a.scope, Scope::Span | Scope::None) {
                out.span.push(a.name.clone());
            }
            if matches!(a.scope, Scope::Resource | Scope::None) {
                out.resource.push(a.name.clone());
            }
        }
    }
    out
}

/// Runs a search over a tenant's sources (`total_blocks` of its blocks overlap the range);
/// says why it stopped early, if it did.
pub(crate) fn search(
    compiled: &Compiled,
    req: &SearchRequest,
    sources: &[Arc<dyn SpanSource>],
    total_blocks: u64,
    parallelism: usize,
    max_bytes: u64,
) -> (SearchResponse, Option<StopReason>) {
    let started = Instant::now();
    let run = Run {
        compiled,
        req,
        need: Need::of_query(&compiled.query.expr),
        stop: Stop::new(started + req.deadline, req.cancel.clone(), max_bytes),
        top: Mutex::new(TopN::new(req.limit)),
        metrics: Mutex::new(SearchMetrics {
            total_blocks,
            total_jobs: sources.len() as u64,
            ..SearchMetrics::default()
        }),
        // The first source read is reported at once.
        reported: Mutex::new(started.checked_sub(PROGRESS_INTERVAL).unwrap_or(started)),
    };
    // A query cancelled or expired before it starts reads nothing.
    let stopped = run.stop.should_stop();
    let fields = fields_of(&compiled.query.referenced_fields());
    // Newest sources first: once the kept matches are all newer than a source's latest span,
    // it is skipped on that alone, so older blocks cost next to nothing.
    let mut jobs: Vec<&Arc<dyn SpanSource>> = if stopped {
        Vec::new()
    } else {
        sources.iter().collect()
    };
    jobs.sort_by_key(|s| std::cmp::Reverse(s.latest()));
    pool::run(
        &jobs,
        parallelism,
        SearchMetrics::default,
        |source, m| {
            if run.stop.should_stop() {
                return;
            }
            if !source.overlaps(&req.range)
                || run
                    .top
                    .lock()
                    .floor()
                    .is_some_and(|floor| source.latest() < floor)
            {
                m.completed_jobs += 1;
                return;
            }
            match read_source(&run, &fields, source.as_ref(), m) {
                Ok(()) => m.completed_jobs += 1,
                Err(e) => tracing::debug!(source = source.describe(), error = %e, "source skipped"),
            }
            if let Some(progress) = &req.progress {
                // The running answer after a source, for a client that streams it.
                {
                    let mut reported = run.reported.lock();
                    if reported.elapsed() < PROGRESS_INTERVAL {
                        return;
                    }
                    *reported = Instant::now();
                }
                let metrics = {
                    let mut total = run.metrics.lock();
                    merge(&mut total, std::mem::take(m));
                    *total
                };
                let traces = run.top.lock().snapshot();
                progress.report(&SearchResponse {
                    traces,
                    metrics,
                    partial: false,
                    partial_reason: None,
                });
            }
        },
        |m| merge(&mut run.metrics.lock(), m),
    );
    let metrics = *run.metrics.lock();
    let reason = run.stop.reason();
    let response = SearchResponse {
        traces: run.top.into_inner().finish(),
        metrics,
        partial: reason.is_some(),
        partial_reason: reason.as_ref().map(ToString::to_string),
    };
    (response, reason)
}

/// Adds one worker's counts to the totals.
fn merge(total: &mut SearchMetrics, m: SearchMetrics) {
    total.inspected_traces += m.inspected_traces;
    total.inspected_spans += m.inspected_spans;
    total.inspected_bytes += m.inspected_bytes;
    total.completed_jobs += m.completed_jobs;
    total.skipped_jobs += m.skipped_jobs;
}

/// Evaluates the traces of one source, newest first, until no older one can make the cut.
fn read_source(
    run: &Run<'_>,
    fields: &Fields,
    source: &dyn SpanSource,
    m: &mut SearchMetrics,
) -> Result<(), SourceError> {
    if !source.may_match(&run.need)? {
        m.skipped_jobs += 1;
        return Ok(());
    }
    let Some(_source_charge) = run.stop.charge(source.cost(), || source.describe()) else {
        return Ok(());
    };
    let traces = source.traces(fields, &run.req.range)?;
    let range = &run.req.range;
    let mut order: Vec<usize> = (0..traces.len())
        .filter(|&t| traces.end(t) >= range.start && traces.start(t) <= range.end)
        .collect();
    order.sort_unstable_by_key(|&t| std::cmp::Reverse(traces.start(t)));
    let result = (|| {
        for t in order {
            if let Some(floor) = run.top.lock().floor()
                && traces.start(t) < floor
            {
                break;
            }
            if run.stop.should_stop() {
                break;
            }
            let spans = traces.span_count(t);
            let Some(_charge) = run.stop.charge(spans as u64 * BYTES_PER_DECODED_SPAN, || {
                format!("a trace of {spans} spans in {}", source.describe())
            }) else {
                break;
            };
            let (id, spans) = traces.get(t)?;
            if !spans.is_empty() {
                run.trace(id, &spans, m);
            }
        }
        Ok(())
    })();
    m.inspected_bytes += traces.bytes();
    result
}
