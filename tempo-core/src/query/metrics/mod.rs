//! metrics: how many spans, how fast, how slow, over time?
//!
//! The metrics half of TraceQL: `{ status = error } | rate() by (resource.service.name)`
//! turns the spans a filter selects into time series. A query is planned ([`plan`]) into the
//! filters it evaluates and the series it builds; every source of a tenant (the head and each
//! block's row groups, through the same [`super::source::SpanSource`] as a search) is read on
//! the query pool, pruned by its time range and by what its filter needs, and each selected
//! span adds its value to the interval of its start time in its series ([`acc`]). The workers'
//! series are merged, then second stages (`topk`, `bottomk`), filters on the result and
//! arithmetic between queries are applied ([`finish`]).
//!
//! The time axis is a [`Grid`]: a range query's steps, or one interval for an instant query.
//!
//! The running values can also be gathered over some sources only (another server's head)
//! and folded into the same query elsewhere before it is finished ([`partial`]).

mod acc;
mod columnar;
mod finish;
mod partial;
mod plan;
mod run;

pub(crate) use partial::fold;
pub use partial::{MetricsPartial, PartialDecodeError};
pub(crate) use plan::Plan;
pub(crate) use run::{collect, complete};

use std::time::Duration;

use super::stop::CancelToken;
use super::{DEFAULT_DEADLINE, SearchMetrics};
use crate::model::TraceId;

/// Default number of exemplars a query returns, as Tempo's.
pub const DEFAULT_EXEMPLARS: usize = 100;
/// The most exemplars a query returns, as Tempo's (`query_frontend.metrics.max_exemplars`).
pub const MAX_EXEMPLARS: usize = 100;
/// Default cap on the series of one query's answer (Tempo's `max_response_series`, which
/// Tempo leaves unlimited by default); 0 is no cap.
pub const DEFAULT_MAX_SERIES: usize = 1000;
/// The points Tempo's default step aims for over a range.
const DEFAULT_STEP_POINTS: u64 = 240;

/// A TraceQL metrics query over a time range.
#[derive(Debug, Clone)]
pub struct MetricsRequest {
    /// The TraceQL metrics query, for example `{ } | rate() by (resource.service.name)`.
    pub query: String,
    /// Start of the range, unix nanoseconds.
    pub start: u64,
    /// End of the range, unix nanoseconds.
    pub end: u64,
    /// The step between samples, nanoseconds; an instant query has one step, the whole
    /// range.
    pub step: u64,
    /// Whether the query is instant: one value per series over the whole range.
    pub instant: bool,
    /// How many exemplars to return at most, over all series.
    pub exemplars: usize,
    /// The most exemplars a `with(exemplars=N)` hint may ask for (Tempo's
    /// `query_frontend.metrics.max_exemplars`, default 100).
    pub max_exemplars: usize,
    /// How many series to return at most (0: no cap); past it the answer is partial.
    pub max_series: usize,
    /// After this long, return what was computed so far, marked partial.
    pub deadline: Duration,
    /// Cancels the query from another thread: it then returns what it computed, marked
    /// partial.
    pub cancel: Option<CancelToken>,
}

impl MetricsRequest {
    /// A range query for `query` over `[start, end]` (unix nanoseconds), with Tempo's
    /// default step for that range ([`default_step`]), 100 exemplars, 1000 series and a
    /// 30 s deadline. The range is aligned to the step as Tempo aligns it: samples run from
    /// one step before `start` rounded down to `end` rounded up.
    pub fn range(query: impl Into<String>, start: u64, end: u64) -> MetricsRequest {
        MetricsRequest {
            query: query.into(),
            start,
            end,
            step: default_step(start, end),
            instant: false,
            exemplars: DEFAULT_EXEMPLARS,
            max_exemplars: MAX_EXEMPLARS,
            max_series: DEFAULT_MAX_SERIES,
            deadline: DEFAULT_DEADLINE,
            cancel: None,
        }
    }

    /// An instant query for `query` over `(start, end]` (unix nanoseconds): one value per
    /// series, over spans starting in the range, stamped at `end`; no exemplars.
    pub fn instant(query: impl Into<String>, start: u64, end: u64) -> MetricsRequest {
        MetricsRequest {
            step: end.saturating_sub(start).max(1),
            instant: true,
            exemplars: 0,
            ..MetricsRequest::range(query, start, end)
        }
    }

    /// Sets the step, nanoseconds.
    pub fn step(mut self, step: Duration) -> MetricsRequest {
        self.step = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        self
    }

    /// Sets the number of exemplars.
    pub fn exemplars(mut self, n: usize) -> MetricsRequest {
        self.exemplars = n;
        self
    }

    /// Sets the most exemplars a query's `with(exemplars=N)` hint may ask for.
    pub fn max_exemplars(mut self, n: usize) -> MetricsRequest {
        self.max_exemplars = n;
        self
    }

    /// Sets the cap on series.
    pub fn max_series(mut self, n: usize) -> MetricsRequest {
        self.max_series = n;
        self
    }

    /// Lets `token` cancel the query.
    pub fn cancel_token(mut self, token: CancelToken) -> MetricsRequest {
        self.cancel = Some(token);
        self
    }
}

/// Tempo's step for a range `[start, end]` (unix nanoseconds) given without one, in
/// nanoseconds: the range over 240 points (15 s for an hour), rounded down to a multiple of
/// 5 s, or of 1 s below that, and never under 1 s.
pub fn default_step(start: u64, end: u64) -> u64 {
    const SECOND: u64 = 1_000_000_000;
    let baseline = end.saturating_sub(start) / DEFAULT_STEP_POINTS;
    let five = baseline / (5 * SECOND) * (5 * SECOND);
    if five >= 5 * SECOND {
        return five;
    }
    (baseline / SECOND * SECOND).max(SECOND)
}

/// What a metrics query computed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsResponse {
    /// The series, in a stable order (by their labels).
    pub series: Vec<TimeSeries>,
    /// What the query read.
    pub metrics: SearchMetrics,
    /// True when the answer is incomplete: the query stopped early (deadline, cancellation,
    /// memory budget) or there were more series than the cap.
    pub partial: bool,
    /// Why the answer is partial, in words.
    pub partial_reason: Option<String>,
}

/// One series: its labels, its samples in time order, and exemplars.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeSeries {
    /// The labels that name the series: the `by()` values, `__name__` for an ungrouped
    /// series, `p` for a quantile, `__bucket` for a histogram bucket, `__meta_type` for
    /// `compare()`.
    pub labels: Vec<Label>,
    /// The samples, oldest first.
    pub samples: Vec<Sample>,
    /// Spans that went into the series.
    pub exemplars: Vec<Exemplar>,
}

impl TimeSeries {
    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&LabelValue> {
        self.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| &l.value)
    }

    /// The series' labels in Prometheus' text form: `{name="value", ...}`.
    pub fn prom_labels(&self) -> String {
        let parts: Vec<String> = self
            .labels
            .iter()
            .map(|l| {
                format!(
                    "{}=\"{}\"",
                    l.name,
                    l.value.to_string().replace('"', "\\\"")
                )
            })
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

/// A label of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Its name: a field as the query wrote it (`resource.service.name`), or one of Tempo's
    /// own (`__name__`, `p`, `__bucket`, `__meta_type`).
    pub name: String,
    /// Its value.
    pub value: LabelValue,
}

/// The value of a label.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    /// The field was missing on the spans of the series.
    Nil,
    /// A string (also statuses, kinds and durations, as TraceQL writes them).
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl std::fmt::Display for LabelValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelValue::Nil => f.write_str("nil"),
            LabelValue::Str(s) => f.write_str(s),
            LabelValue::Int(i) => write!(f, "{i}"),
            LabelValue::Float(x) => write!(f, "{x}"),
            LabelValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One sample of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When, unix milliseconds: the end of the interval it covers.
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}

/// A span that went into a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The span's trace.
    pub trace_id: TraceId,
    /// The span's ID.
    pub span_id: Vec<u8>,
    /// The span's value for the series' function (its duration in seconds for `rate()` and
    /// the counts).
    pub value: f64,
    /// The span's start, unix milliseconds.
    pub timestamp_ms: i64,
}

/// The time axis of a query: the intervals samples cover.
///
/// As Tempo's: intervals are closed on the right, `(start + i·step, start + (i+1)·step]`, a
/// span falls in the interval of its start time, and a sample is stamped at its interval's
/// end. A range query's start is aligned down to a multiple of the step (and one step more
/// is added before it), its end up to one; an instant query has one interval, the range as
/// given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    /// Where the first interval starts (exclusive), unix nanoseconds.
    pub(crate) start: u64,
    /// The intervals' length, nanoseconds.
    pub(crate) step: u64,
    /// Number of intervals.
    pub(crate) len: usize,
}

impl Grid {
    /// The intervals of a range query over `[start, end]` by `step`, aligned as Tempo aligns
    /// them.
    pub(crate) fn range(start: u64, end: u64, step: u64) -> Grid {
        let step = step.max(1);
        let mut first = start / step * step;
        let last = end.div_ceil(step).saturating_mul(step);
        if first > step {
            first -= step;
        }
        let len = (last.saturating_sub(first) / step).max(1);
        Grid {
            start: first,
            step,
            len: usize::try_from(len).unwrap_or(usize::MAX),
        }
    }

    /// The one interval of an instant query, `(start, end]`.
    pub(crate) fn instant(start: u64, end: u64) -> Grid {
        Grid {
            start,
            step: end.saturating_sub(start).max(1),
            len: 1,
        }
    }

    /// The grid of a request.
    pub(crate) fn of(req: &MetricsRequest) -> Grid {
        if req.instant {
            Grid::instant(req.start, req.end)
        } else {
            Grid::range(req.start, req.end, req.step)
        }
    }

    /// The end of the last interval, unix nanoseconds.
    pub(crate) fn end(&self) -> u64 {
        self.start
            .saturating_add(self.step.saturating_mul(self.len as u64))
    }

    /// The interval of a span starting at `t`, if within the grid.
    #[inline]
    pub(crate) fn interval_of(&self, t: u64) -> Option<usize> {
        if t <= self.start {
            return None;
        }
        let i = ((t - self.start - 1) / self.step) as usize;
        (i < self.len).then_some(i)
    }

    /// The timestamp of interval `i`'s samples, unix milliseconds: its end.
    pub(crate) fn timestamp_ms(&self, i: usize) -> i64 {
        let end = self
            .start
            .saturating_add(self.step.saturating_mul(i as u64 + 1));
        (end / 1_000_000) as i64
    }

    /// The intervals' length in seconds.
    pub(crate) fn step_seconds(&self) -> f64 {
        self.step as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn range_grids_are_aligned_with_a_step_before_and_closed_on_the_right() {
        // start=1000s, end=2000s, step=60s: samples at 960, 1020, ..., 2040.
        let g = Grid::range(1000 * S, 2000 * S, 60 * S);
        assert_eq!(g.start, 900 * S);
        assert_eq!(g.len, 19);
        assert_eq!(g.timestamp_ms(0), 960_000);
        assert_eq!(g.timestamp_ms(18), 2_040_000);
        assert_eq!(g.interval_of(900 * S), None);
        assert_eq!(g.interval_of(900 * S + 1), Some(0));
        assert_eq!(g.interval_of(960 * S), Some(0));
        assert_eq!(g.interval_of(960 * S + 1), Some(1));
        assert_eq!(g.interval_of(2040 * S), Some(18));
        assert_eq!(g.interval_of(2040 * S + 1), None);
    }

    #[test]
    fn an_instant_grid_is_the_range_as_given() {
        let g = Grid::instant(1000 * S, 1600 * S);
        assert_eq!(g.len, 1);
        assert_eq!(g.interval_of(1000 * S), None);
        assert_eq!(g.interval_of(1600 * S), Some(0));
        assert_eq!(g.timestamp_ms(0), 1_600_000);
        assert_eq!(g.step_seconds(), 600.0);
    }

    #[test]
    fn default_steps_aim_at_240_points() {
        let h = 3600 * S;
        assert_eq!(default_step(0, h), 15 * S);
        assert_eq!(default_step(0, 3 * h), 45 * S);
        assert_eq!(default_step(0, 24 * h), 360 * S);
        assert_eq!(default_step(0, 1800 * S), 5 * S);
        assert_eq!(default_step(0, 600 * S), 2 * S);
        assert_eq!(default_step(0, 300 * S), S);
        assert_eq!(default_step(0, 10 * S), S);
    }
}
