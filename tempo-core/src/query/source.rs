//! Sources of spans for the engine, and the search that runs over them.
//!
//! The head and each block row group present their traces the same way: a trace ID and its
//! spans ([`StoredSpan`]), evaluated by the same [`Compiled`] query. The head is read under its
//! shard locks; row groups are first checked against the query's [`Need`], then decoded with
//! only the attributes the query reads, on a pool of scoped threads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use tempo_traceql::{FieldRef, Scope};

use super::eval::{Compiled, Spanset, TraceView, service_name};
use super::prune::Need;
use super::stop::{BYTES_PER_DECODED_SPAN, Charge, Stop, StopReason};
use super::{
    MatchedSpan, SearchMetrics, SearchRequest, SearchResponse, ServiceStats, SpanSet, TraceMatch,
};
use crate::block::BlockError;
use crate::block::reader::BlockReader;
use crate::head::TenantHead;
use crate::model::{KeyValue, TraceId};
use crate::spans::StoredSpan;

/// Estimated bytes per span of a row group's decoded columns.
const BYTES_PER_DECODED_COLUMNS: u64 = 64;

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
        self.traces.sort_by(|a, b| {
            b.start_time_unix_nano
                .cmp(&a.start_time_unix_nano)
                .then(a.trace_id.cmp(&b.trace_id))
        });
        self.traces
    }
}

/// Per-search state shared by the workers.
struct Run<'a> {
    compiled: &'a Compiled,
    req: &'a SearchRequest,
    need: Need,
    stop: Stop,
    top: Mutex<TopN>,
    metrics: Mutex<SearchMetrics>,
}

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
                            attributes: self.compiled.shown_attributes(view, i as usize),
                        }
                    })
                    .collect();
                SpanSet {
                    spans,
                    matched: ss.spans.len() as u64,
                    attributes: ss
                        .attrs
                        .iter()
                        .filter_map(|(k, v)| {
                            Some(KeyValue {
                                key: k.clone(),
                                value: Some(v.to_any()?),
                            })
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

    /// Reserves the memory a trace of `spans` spans takes while it is evaluated.
    fn charge_trace(&self, id: &TraceId, spans: usize) -> Option<Charge<'_>> {
        self.stop.charge(spans as u64 * BYTES_PER_DECODED_SPAN, || {
            format!("trace {id} of {spans} spans")
        })
    }
}

/// Which span and resource attribute keys a query reads (so only those are decoded).
pub(crate) struct Keys {
    span: Vec<String>,
    resource: Vec<String>,
}

impl Keys {
    fn of(fields: &[FieldRef]) -> Keys {
        // `service.name` is always needed for the root service and the per-service stats.
        let mut k = Keys {
            span: Vec::new(),
            resource: vec!["service.name".to_owned()],
        };
        for f in fields {
            if let FieldRef::Attribute(a) = f {
                if matches!(a.scope, Scope::Span | Scope::None) {
                    k.span.push(a.name.clone());
                }
                if matches!(a.scope, Scope::Resource | Scope::None) {
                    k.resource.push(a.name.clone());
                }
            }
        }
        k
    }

    fn keep(&self, table: &str, key: &str) -> bool {
        match table {
            "span" => self.span.iter().any(|k| k == key),
            _ => self.resource.iter().any(|k| k == key),
        }
    }
}

/// Runs a search over a tenant's head and blocks; says why it stopped early, if it did.
pub(crate) fn search(
    compiled: &Compiled,
    req: &SearchRequest,
    head: Option<Arc<TenantHead>>,
    mut blocks: Vec<Arc<BlockReader>>,
    parallelism: usize,
    max_bytes: u64,
    on_block_error: &(dyn Fn(&Arc<BlockReader>, &BlockError) + Sync),
) -> (SearchResponse, Option<StopReason>) {
    let started = Instant::now();
    let run = Run {
        compiled,
        req,
        need: Need::of_query(&compiled.query.expr),
        stop: Stop::new(started + req.deadline, req.cancel.clone(), max_bytes),
        top: Mutex::new(TopN::new(req.limit)),
        metrics: Mutex::new(SearchMetrics::default()),
    };
    // A query cancelled or expired before it starts reads nothing.
    let stopped = run.stop.should_stop();
    let keys = Keys::of(&compiled.query.referenced_fields());
    blocks.retain(|b| b.overlaps(req.range.start, req.range.end));
    blocks.sort_by_key(|b| std::cmp::Reverse(b.meta.end_time_unix_nano));
    {
        let mut m = run.metrics.lock();
        m.total_blocks = blocks.len() as u64;
        m.total_jobs = 1 + blocks.iter().map(|b| b.index.len() as u64).sum::<u64>();
    }

    if let Some(head) = head.filter(|_| !stopped) {
        let mut m = SearchMetrics::default();
        let mut spans = Vec::new();
        head.for_each_trace(req.range.start, req.range.end, |parts| {
            if run.stop.should_stop() {
                return false;
            }
            let Some(_charge) = run.charge_trace(&parts.id, parts.span_count()) else {
                return false;
            };
            m.inspected_bytes += parts.bytes;
            parts.unpack(&mut spans);
            run.trace(parts.id, &spans, &mut m);
            true
        });
        let mut total = run.metrics.lock();
        total.inspected_traces += m.inspected_traces;
        total.inspected_spans += m.inspected_spans;
        total.inspected_bytes += m.inspected_bytes;
        total.completed_jobs += 1;
    }

    let workers = match parallelism {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Every row group overlapping the range, newest blocks first. Workers take them in that
    // order; once the kept matches are all newer than a row group's latest span, it is skipped
    // on its index entry alone, so older blocks cost next to nothing.
    let mut jobs: Vec<(usize, usize)> = Vec::new();
    for (bi, b) in blocks.iter().enumerate() {
        for (rg, e) in b.index.iter().enumerate() {
            if e.end >= req.range.start && e.start <= req.range.end {
                jobs.push((bi, rg));
            } else {
                run.metrics.lock().completed_jobs += 1;
            }
        }
    }
    {
        let cursor = AtomicUsize::new(0);
        let work = || {
            let mut m = SearchMetrics::default();
            loop {
                let j = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(&(bi, rg)) = jobs.get(j) else { break };
                if run.stop.should_stop() {
                    break;
                }
                let block = &blocks[bi];
                if let Some(floor) = run.top.lock().floor()
                    && block.index[rg].end < floor
                {
                    m.completed_jobs += 1;
                    continue;
                }
                match row_group(&run, &keys, block, rg, &mut m) {
                    Ok(()) => m.completed_jobs += 1,
                    Err(e) => on_block_error(block, &e),
                }
            }
            let mut total = run.metrics.lock();
            total.inspected_traces += m.inspected_traces;
            total.inspected_spans += m.inspected_spans;
            total.inspected_bytes += m.inspected_bytes;
            total.completed_jobs += m.completed_jobs;
            total.skipped_jobs += m.skipped_jobs;
        };
        let threads = workers.min(jobs.len());
        if threads <= 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
    }
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

fn row_group(
    run: &Run<'_>,
    keys: &Keys,
    block: &BlockReader,
    rg: usize,
    m: &mut SearchMetrics,
) -> Result<(), BlockError> {
    let group = block.row_group(rg)?;
    let name = block.name();
    if !run.need.may_match(&group).map_err(|e| e.in_block(name))? {
        m.skipped_jobs += 1;
        return Ok(());
    }
    m.inspected_bytes += block.index[rg].len;
    let entry = &block.index[rg];
    let Some(_group_charge) = run.stop.charge(
        entry.len + u64::from(entry.spans) * BYTES_PER_DECODED_COLUMNS,
        || format!("row group {rg} of block {name} ({} spans)", entry.spans),
    ) else {
        return Ok(());
    };
    let cols = group
        .columns(Some(&|table: &str, key: &str| keys.keep(table, key)))
        .map_err(|e| e.in_block(name))?;
    // Newest traces first: once the kept matches are all newer than the next trace, no
    // older trace of this row group can make the cut.
    let mut order: Vec<usize> = (0..cols.traces())
        .filter(|&t| {
            cols.trace_end(t) >= run.req.range.start && cols.trace_start(t) <= run.req.range.end
        })
        .collect();
    order.sort_unstable_by_key(|&t| std::cmp::Reverse(cols.trace_start(t)));
    for t in order {
        if let Some(floor) = run.top.lock().floor()
            && cols.trace_start(t) < floor
        {
            break;
        }
        if run.stop.should_stop() {
            break;
        }
        let Some(_charge) = run
            .stop
            .charge(cols.trace_spans(t) as u64 * BYTES_PER_DECODED_SPAN, || {
                format!("a trace of {} spans in block {name}", cols.trace_spans(t))
            })
        else {
            break;
        };
        let (id, spans) = cols.trace(t).map_err(|e| e.in_block(name))?;
        run.trace(id, &spans, m);
    }
    Ok(())
}
