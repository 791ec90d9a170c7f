//! run: one pass over a tenant's sources, every leaf of the query at once.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::acc::{KeyVal, Kind, LeafAcc, hold_series};
use super::columnar::{self, ColumnarPlan, Scan};
use super::finish;
use super::plan::{Func, Plan, exemplar_value, sampled, value_of};
use super::{Exemplar, Grid, MetricsRequest, MetricsResponse};
use crate::model::{TimeRange, TraceId};
use crate::query::SearchMetrics;
use crate::query::eval::{TraceView, kind_of, status_of};
use crate::query::pool;
use crate::query::source::{Fields, Need, SourceError, SpanSource};
use crate::query::stop::{BYTES_PER_DECODED_SPAN, Stop, StopReason};
use crate::query::value::Val;
use crate::spans::StoredSpan;

/// What one worker builds.
struct Worker {
    leaves: Vec<LeafAcc>,
    metrics: SearchMetrics,
    /// Per span of the current trace: already counted for the current leaf.
    seen: Vec<bool>,
    /// Per span of the current trace: in `compare()`'s selection.
    selected: Vec<bool>,
    /// A reusable key.
    key: Vec<KeyVal>,
    /// Series whose memory is held in the query's budget.
    held: usize,
}

/// State shared by the workers of one query.
struct Shared<'a> {
    plan: &'a Plan,
    grid: Grid,
    range: TimeRange,
    fields: Fields,
    need: Need,
    stop: Stop,
    /// Exemplars kept per series while reading.
    exemplars: usize,
    /// Traces whose ID hashes below this are read (`with(sample=...)`).
    sample_below: u64,
    /// The query's columnar form, when it needs no trace trees.
    columnar: Option<ColumnarPlan>,
    done: Mutex<(Vec<LeafAcc>, SearchMetrics)>,
}

/// What a query's pass over some sources gathered: each leaf's running series, before they
/// are finished. Running values from elsewhere (another server's head) may be folded in
/// before [`complete`] finishes them.
pub(crate) struct Collected {
    /// The running series of each leaf of the plan, unscaled by `with(sample=...)`.
    pub(crate) leaves: Vec<LeafAcc>,
    /// What the pass read.
    pub(crate) metrics: SearchMetrics,
    /// Why the pass stopped early, if it did.
    pub(crate) reason: Option<StopReason>,
    /// Why what was folded in may miss spans (a partial answer from elsewhere, or one that
    /// could not be used).
    pub(crate) other_reasons: Vec<String>,
    /// Exemplars kept per series.
    pub(crate) exemplars: usize,
    /// The query's time axis.
    pub(crate) grid: Grid,
}

/// The exemplars a query keeps per series: none for an instant query, else the request's
/// number, or the query's `with(exemplars=N)` within the request's most.
pub(crate) fn exemplars_of(plan: &Plan, req: &MetricsRequest) -> usize {
    if req.instant {
        0
    } else {
        plan.exemplars
            .map_or(req.exemplars, |n| n.min(req.max_exemplars))
    }
}

/// Reads a tenant's sources (`total_blocks` of its blocks overlap the range) into the running
/// series of every leaf of the plan.
pub(crate) fn collect(
    plan: &Plan,
    req: &MetricsRequest,
    sources: &[Arc<dyn SpanSource>],
    total_blocks: u64,
    parallelism: usize,
    max_bytes: u64,
) -> Collected {
    let started = Instant::now();
    let grid = Grid::of(req);
    // Spans are placed by their start: a source or trace ending before the range, or
    // starting after it, holds none.
    let range = TimeRange {
        start: grid.start.saturating_add(1),
        end: grid.end(),
    };
    let need = match plan.leaves.as_slice() {
        [one] => one.need.clone(),
        many => Need::Any(many.iter().map(|l| l.need.clone()).collect()),
    };
    let exemplars = exemplars_of(plan, req);
    let sample_below = if plan.sample >= 1.0 {
        u64::MAX
    } else {
        (plan.sample * u64::MAX as f64) as u64
    };
    let shared = Shared {
        plan,
        columnar: ColumnarPlan::new(plan, exemplars > 0 || sample_below != u64::MAX),
        grid,
        range,
        fields: plan.fields.clone(),
        need,
        stop: Stop::new(started + req.deadline, req.cancel.clone(), max_bytes),
        exemplars,
        sample_below,
        done: Mutex::new((
            plan.leaves.iter().map(|_| LeafAcc::default()).collect(),
            SearchMetrics {
                total_blocks,
                total_jobs: sources.len() as u64,
                ..SearchMetrics::default()
            },
        )),
    };
    let jobs: Vec<&Arc<dyn SpanSource>> = if shared.stop.should_stop() {
        Vec::new()
    } else {
        sources.iter().collect()
    };
    pool::run(
        &jobs,
        parallelism,
        || Worker {
            leaves: plan.leaves.iter().map(|_| LeafAcc::default()).collect(),
            metrics: SearchMetrics::default(),
            seen: Vec::new(),
            selected: Vec::new(),
            key: Vec::new(),
            held: 0,
        },
        |source, w| {
            if shared.stop.should_stop() {
                return;
            }
            if !source.overlaps(&shared.range) {
                w.metrics.completed_jobs += 1;
                return;
            }
            match read_source(&shared, source.as_ref(), w) {
                Ok(()) => w.metrics.completed_jobs += 1,
                Err(e) => tracing::debug!(source = source.describe(), error = %e, "source skipped"),
            }
            hold_series(&shared.stop, shared.grid.len, &w.leaves, &mut w.held);
        },
        |w| {
            let mut done = shared.done.lock();
            for (mine, theirs) in done.0.iter_mut().zip(w.leaves) {
                mine.merge(theirs, shared.exemplars);
            }
            let m = &mut done.1;
            m.inspected_traces += w.metrics.inspected_traces;
            m.inspected_spans += w.metrics.inspected_spans;
            m.inspected_bytes += w.metrics.inspected_bytes;
            m.completed_jobs += w.metrics.completed_jobs;
            m.skipped_jobs += w.metrics.skipped_jobs;
        },
    );
    let reason = shared.stop.reason();
    let (leaves, metrics) = shared.done.into_inner();
    Collected {
        leaves,
        metrics,
        reason,
        other_reasons: Vec::new(),
        exemplars,
        grid,
    }
}

/// Finishes the running series into the answer: scaled up for a sampled query, the
/// ungrouped counts made to exist, second stages and arithmetic applied, capped.
pub(crate) fn complete(plan: &Plan, req: &MetricsRequest, collected: Collected) -> MetricsResponse {
    let Collected {
        mut leaves,
        metrics,
        reason,
        other_reasons,
        exemplars,
        grid,
    } = collected;
    if plan.sample < 1.0 {
        for leaf in &mut leaves {
            for s in leaf.series_mut() {
                s.values.scale(1.0 / plan.sample);
            }
        }
    }
    if metrics.completed_jobs > 0 {
        // As Tempo's, an ungrouped count exists once any data was read: zero where nothing
        // matched, rather than no series.
        for (leaf, acc) in plan.leaves.iter().zip(&mut leaves) {
            if leaf.by.is_empty() && matches!(leaf.func, Func::Rate | Func::Count) {
                acc.slot(&[], Kind::Count, grid.len);
            }
        }
    }
    let mut response = finish::finish(plan, &grid, leaves, req, exemplars);
    response.metrics = metrics;
    let reasons: Vec<String> = reason
        .iter()
        .map(ToString::to_string)
        .chain(other_reasons)
        .chain(response.partial_reason.take())
        .collect();
    if !reasons.is_empty() {
        response.partial = true;
        response.partial_reason = Some(reasons.join("; "));
    }
    response
}

/// Reads one source's traces into the worker's series.
fn read_source(
    shared: &Shared<'_>,
    source: &dyn SpanSource,
    w: &mut Worker,
) -> Result<(), SourceError> {
    if !source.may_match(&shared.need)? {
        w.metrics.skipped_jobs += 1;
        return Ok(());
    }
    let Some(_charge) = shared.stop.charge(source.cost(), || source.describe()) else {
        return Ok(());
    };
    if let Some(columnar) = &shared.columnar
        && let Some(columns) = source.span_columns(&columnar.want)?
    {
        let scan = Scan {
            plan: shared.plan,
            columnar,
            grid: &shared.grid,
            stop: &shared.stop,
            exemplars: shared.exemplars,
            sample_below: shared.sample_below,
        };
        columnar::scan(
            &scan,
            columns.as_ref(),
            &mut w.leaves,
            &mut w.metrics,
            &mut w.held,
        );
        w.metrics.inspected_bytes += columns.bytes();
        return Ok(());
    }
    let traces = source.traces(&shared.fields, &shared.range)?;
    let range = &shared.range;
    let result = (|| {
        for t in 0..traces.len() {
            if traces.end(t) < range.start || traces.start(t) > range.end {
                continue;
            }
            if shared.stop.should_stop() {
                break;
            }
            let spans = traces.span_count(t);
            let Some(_charge) = shared
                .stop
                .charge(spans as u64 * BYTES_PER_DECODED_SPAN, || {
                    format!("a trace of {spans} spans in {}", source.describe())
                })
            else {
                break;
            };
            let (id, spans) = traces.get(t)?;
            if spans.is_empty() || !sampled(&id, shared.sample_below) {
                continue;
            }
            trace(shared, id, &spans, w);
            if !hold_series(&shared.stop, shared.grid.len, &w.leaves, &mut w.held) {
                break;
            }
        }
        Ok(())
    })();
    w.metrics.inspected_bytes += traces.bytes();
    result
}

/// Evaluates one trace for every leaf.
fn trace(shared: &Shared<'_>, id: TraceId, spans: &[StoredSpan], w: &mut Worker) {
    w.metrics.inspected_traces += 1;
    w.metrics.inspected_spans += spans.len() as u64;
    let view = TraceView::new(id, spans);
    for (leaf, acc) in shared.plan.leaves.iter().zip(w.leaves.iter_mut()) {
        let Ok(sets) = leaf.filter.run(&view, &shared.stop) else {
            return;
        };
        if sets.is_empty() {
            continue;
        }
        w.seen.clear();
        w.seen.resize(spans.len(), false);
        if let Func::Compare {
            selection, window, ..
        } = &leaf.func
        {
            w.selected.clear();
            w.selected.resize(spans.len(), false);
            if let Ok(chosen) = selection.run(&view, &shared.stop) {
                for i in chosen.iter().flat_map(|s| s.spans.iter()) {
                    let start = spans[*i as usize].span.start_time_unix_nano;
                    if window.is_none_or(|(from, to)| from <= start && start <= to) {
                        w.selected[*i as usize] = true;
                    }
                }
            }
        }
        // As Tempo, at most one exemplar per trace.
        let mut exemplar_taken = false;
        for &i in sets.iter().flat_map(|s| s.spans.iter()) {
            let i = i as usize;
            if std::mem::replace(&mut w.seen[i], true) {
                continue;
            }
            let span = &spans[i].span;
            let Some(interval) = shared.grid.interval_of(span.start_time_unix_nano) else {
                continue;
            };
            if let Func::Compare { .. } = &leaf.func {
                compare_span(&view, i, interval, shared.grid.len, w.selected[i], acc);
                continue;
            }
            let value = match leaf.func.field() {
                None => {
                    span.end_time_unix_nano
                        .saturating_sub(span.start_time_unix_nano) as f64
                        / 1e9
                }
                Some(f) => match value_of(&leaf.filter.field(f, &view, i, None, None), leaf) {
                    Some(v) => v,
                    None => continue,
                },
            };
            w.key.clear();
            for (_, f) in &leaf.by {
                w.key
                    .push(KeyVal::of(&leaf.filter.field(f, &view, i, None, None)));
            }
            let series = acc.slot(&w.key, leaf.kind, shared.grid.len);
            series.values.add(interval, value, 1.0);
            if !exemplar_taken && series.wants_exemplar(interval, shared.exemplars) {
                exemplar_taken = true;
                series.keep_exemplar(
                    interval,
                    Exemplar {
                        trace_id: id,
                        span_id: span.span_id.clone(),
                        value: exemplar_value(leaf, value),
                        timestamp_ms: (span.start_time_unix_nano / 1_000_000) as i64,
                    },
                );
            }
        }
    }
}

/// Counts one span for `compare()`: each of its attributes' values, in the selection or the
/// baseline, and the totals of each attribute. Series are found from borrowed values: only a
/// new series allocates.
fn compare_span(
    view: &TraceView<'_>,
    i: usize,
    interval: usize,
    len: usize,
    selected: bool,
    acc: &mut LeafAcc,
) {
    let (side, total) = if selected {
        ("selection", "selection_total")
    } else {
        ("baseline", "baseline_total")
    };
    let mut count = |name: &str, value: Val<'_>| {
        for (meta, v) in [(side, value), (total, Val::Nil)] {
            let parts = [
                Val::Str(Cow::Borrowed(meta)),
                Val::Str(Cow::Borrowed(name)),
                v,
            ];
            acc.slot_of(&parts, Kind::Count, len)
                .values
                .add(interval, 0.0, 1.0);
        }
    };
    let hs = &view.spans[i];
    let s = &hs.span;
    let mut name = String::new();
    let resource = hs
        .resource
        .resource
        .as_ref()
        .map(|r| r.attributes.as_slice());
    for (prefix, attrs) in [
        ("span.", s.attributes.as_slice()),
        ("resource.", resource.unwrap_or(&[])),
    ] {
        for kv in attrs {
            let v = kv.value.as_ref().map_or(Val::Nil, Val::from_any);
            // Arrays and lists are not compared, as they are no single value.
            if !v.is_nil() && !matches!(v, Val::Array(_)) {
                name.clear();
                name.push_str(prefix);
                name.push_str(&kv.key);
                count(&name, v);
            }
        }
    }
    count("name", Val::Str(Cow::Borrowed(&s.name)));
    count(
        "status",
        Val::Status(status_of(s.status.as_ref().map_or(0, |st| st.code))),
    );
    count("kind", Val::Kind(kind_of(s.kind)));
}
