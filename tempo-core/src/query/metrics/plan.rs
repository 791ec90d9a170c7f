//! plan: what does a metrics query evaluate, and how are its series combined?
//!
//! A query is a tree: its leaves are metrics pipelines (a spanset filter, a function and its
//! `by()`), its inner nodes arithmetic and comparisons between leaves and literals, and any
//! node may be followed by second stages (`topk`, `bottomk`) and filters on its values. The
//! leaves are evaluated in one pass over the data; the tree is applied to their series at the
//! end.

use tempo_traceql::{
    BinaryOp, Expr, ExprKind, FieldExpr, FieldExprKind, Intrinsic, MetricsFn, Pipeline, Query,
    SecondStageFn, Span, SpansetFilter, StageKind, Static,
};

use super::acc::Kind;
use crate::model::TraceId;
use crate::query::QueryError;
use crate::query::eval::Compiled;
use crate::query::search::fields_of;
use crate::query::source::{Fields, Need};
use crate::query::value::Val;

/// A metrics query ready to run.
pub(crate) struct Plan {
    /// The metrics pipelines, evaluated together in one pass.
    pub(crate) leaves: Vec<Leaf>,
    /// How their series combine into the answer.
    pub(crate) root: Node,
    /// The fraction of traces read (`with(sample=...)`); 1 reads them all.
    pub(crate) sample: f64,
    /// The attributes the query reads, so only those are decoded.
    pub(crate) fields: Fields,
    /// Exemplars asked for by `with(exemplars=...)`, overriding the request's.
    pub(crate) exemplars: Option<usize>,
}

/// A node of the query tree.
pub(crate) enum Node {
    /// The series of leaf `.0`.
    Leaf(usize),
    /// A literal.
    Const(f64),
    /// Arithmetic or a comparison between two nodes.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left side.
        lhs: Box<Node>,
        /// Right side.
        rhs: Box<Node>,
    },
    /// A node followed by second stages and filters, in order.
    Post {
        /// The node.
        node: Box<Node>,
        /// The stages.
        stages: Vec<Post>,
    },
}

/// A stage applied to finished series.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Post {
    /// `topk(n)` or `bottomk(n)`.
    Keep {
        /// Which one.
        func: SecondStageFn,
        /// How many series.
        limit: usize,
    },
    /// `> 10`: only the samples meeting the comparison.
    Filter {
        /// The comparison.
        op: BinaryOp,
        /// Its right side.
        value: f64,
    },
}

/// One metrics pipeline: which spans, grouped how, computing what.
pub(crate) struct Leaf {
    /// The spans: the pipeline before its metrics stage.
    pub(crate) filter: Compiled,
    /// What every span the filter selects needs, to skip sources that hold none.
    pub(crate) need: Need,
    /// The `by()` fields and their label names, in order.
    pub(crate) by: Vec<(String, FieldExpr)>,
    /// The function.
    pub(crate) func: Func,
    /// What the function keeps per interval.
    pub(crate) kind: Kind,
    /// Whether the function's field is a duration (its results are in seconds).
    pub(crate) duration_field: bool,
}

/// A metrics function, ready to run.
pub(crate) enum Func {
    /// `rate()`: spans per second.
    Rate,
    /// `count_over_time()`: spans per interval.
    Count,
    /// `sum_over_time(f)`.
    Sum(FieldExpr),
    /// `min_over_time(f)`.
    Min(FieldExpr),
    /// `max_over_time(f)`.
    Max(FieldExpr),
    /// `avg_over_time(f)`.
    Avg(FieldExpr),
    /// `quantile_over_time(f, q...)`.
    Quantile(FieldExpr, Vec<f64>),
    /// `histogram_over_time(f)`.
    Histogram(FieldExpr),
    /// `compare({selection}, top_n, start, end)`.
    Compare {
        /// The selection, as a query of its own.
        selection: Compiled,
        /// Values kept per attribute.
        top_n: usize,
        /// The selection's time window, unix nanoseconds, if given.
        window: Option<(u64, u64)>,
    },
}

impl Func {
    /// The field whose values the function aggregates, if any.
    pub(crate) fn field(&self) -> Option<&FieldExpr> {
        match self {
            Func::Sum(f)
            | Func::Min(f)
            | Func::Max(f)
            | Func::Avg(f)
            | Func::Quantile(f, _)
            | Func::Histogram(f) => Some(f),
            Func::Rate | Func::Count | Func::Compare { .. } => None,
        }
    }

    /// The function's name, as Tempo labels an ungrouped series with it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Func::Rate => "rate",
            Func::Count => "count_over_time",
            Func::Sum(_) => "sum_over_time",
            Func::Min(_) => "min_over_time",
            Func::Max(_) => "max_over_time",
            Func::Avg(_) => "avg_over_time",
            Func::Quantile(..) => "quantile_over_time",
            Func::Histogram(_) => "histogram_over_time",
            Func::Compare { .. } => "compare",
        }
    }
}

/// Default number of values per attribute that `compare()` keeps, as Tempo's.
pub(crate) const COMPARE_TOP_N: usize = 10;

impl Plan {
    /// Parses, validates and plans `text`; a query that is not a metrics query is refused.
    pub(crate) fn new(text: &str) -> Result<Plan, QueryError> {
        let query = tempo_traceql::parse(text)?;
        if !query.is_metrics() {
            return Err(QueryError::Invalid(
                "not a metrics query: a metrics query ends in a metrics function, for example \
                 `{ } | rate()`; use the search API for spansets"
                    .into(),
            ));
        }
        let sample = sample_of(&query)?;
        let mut leaves = Vec::new();
        let root = node(text, &query.expr, &mut leaves)?;
        let fields = if leaves
            .iter()
            .any(|l| matches!(l.func, Func::Compare { .. }))
        {
            Fields::all()
        } else {
            fields_of(&query.referenced_fields())
        };
        let exemplars = match query.hint("exemplars") {
            None => None,
            Some(Static::Bool(false)) => Some(0),
            Some(Static::Int(n)) if *n >= 0 => Some((*n as usize).min(super::MAX_EXEMPLARS)),
            Some(Static::Bool(true)) => None,
            Some(other) => {
                return Err(QueryError::Invalid(format!(
                    "invalid hint exemplars={}: use false or a number of exemplars",
                    describe(other)
                )));
            }
        };
        Ok(Plan {
            leaves,
            root,
            sample,
            fields,
            exemplars,
        })
    }
}

/// The fraction of traces the sampling hints ask for: `sample=true` is Tempo's adaptive
/// sampling, which reads everything here (a scan is cheap enough); `sample`, `trace_sample`
/// or `span_sample` with a number in `(0, 1]` reads that fraction of the traces.
fn sample_of(query: &Query) -> Result<f64, QueryError> {
    let hint = query
        .hint("sample")
        .or_else(|| query.hint("trace_sample"))
        .or_else(|| query.hint("span_sample"));
    Ok(match hint {
        None | Some(Static::Bool(_)) => 1.0,
        Some(Static::Float(f)) if *f > 0.0 && *f <= 1.0 => *f,
        Some(Static::Int(1)) => 1.0,
        Some(other) => {
            return Err(QueryError::Invalid(format!(
                "invalid hint sample={}: use true or a fraction in (0, 1]",
                describe(other)
            )));
        }
    })
}

/// Plans an expression into a node, adding its leaves.
fn node(text: &str, e: &Expr, leaves: &mut Vec<Leaf>) -> Result<Node, QueryError> {
    match &e.kind {
        ExprKind::Static(s) => Ok(Node::Const(constant(s)?)),
        ExprKind::Binary { op, lhs, rhs } => Ok(Node::Binary {
            op: *op,
            lhs: Box::new(node(text, lhs, leaves)?),
            rhs: Box::new(node(text, rhs, leaves)?),
        }),
        ExprKind::Pipeline(p) => pipeline(text, p, e.span, leaves),
        ExprKind::Filter(_) | ExprKind::Spanset { .. } => Err(QueryError::Invalid(
            "a spanset is not a metrics query; end it with a metrics function".into(),
        )),
    }
}

/// The value of a literal in metrics arithmetic.
fn constant(s: &Static) -> Result<f64, QueryError> {
    Ok(match s {
        Static::Int(i) => *i as f64,
        Static::Float(f) => *f,
        // Durations are seconds in metrics, as the values of durations are.
        Static::Duration(d) => *d as f64 / 1e9,
        other => {
            return Err(QueryError::Invalid(format!(
                "{} is not a number: metrics arithmetic takes numbers and durations",
                describe(other)
            )));
        }
    })
}

/// Plans a pipeline: a metrics pipeline becomes a leaf; a metrics expression followed by
/// second stages a [`Node::Post`].
fn pipeline(
    text: &str,
    p: &Pipeline,
    span: Span,
    leaves: &mut Vec<Leaf>,
) -> Result<Node, QueryError> {
    let metrics_at = p
        .stages
        .iter()
        .position(|s| matches!(s.kind, StageKind::Metrics(_)));
    let (inner, rest) = match metrics_at {
        Some(at) => {
            let StageKind::Metrics(m) = &p.stages[at].kind else {
                unreachable!("found above")
            };
            let filter_expr = if at == 0 {
                (*p.head).clone()
            } else {
                Expr {
                    kind: ExprKind::Pipeline(Pipeline {
                        head: p.head.clone(),
                        stages: p.stages[..at].to_vec(),
                    }),
                    span,
                }
            };
            let leaf = leaf(text, filter_expr, &m.func, &m.by, span)?;
            leaves.push(leaf);
            (Node::Leaf(leaves.len() - 1), &p.stages[at + 1..])
        }
        // A metrics expression (wrapped) followed by stages.
        None => (node(text, &p.head, leaves)?, &p.stages[..]),
    };
    if rest.is_empty() {
        return Ok(inner);
    }
    let mut stages = Vec::with_capacity(rest.len());
    for s in rest {
        stages.push(match &s.kind {
            StageKind::SecondStage { func, limit } => Post::Keep {
                func: *func,
                limit: usize::try_from(*limit).unwrap_or(0),
            },
            StageKind::MetricsFilter { op, value } => Post::Filter {
                op: *op,
                value: constant(value)?,
            },
            _ => {
                return Err(QueryError::Invalid(
                    "after a metrics function only topk(), bottomk() and comparisons may follow"
                        .into(),
                ));
            }
        });
    }
    Ok(Node::Post {
        node: Box::new(inner),
        stages,
    })
}

/// Plans one metrics pipeline.
fn leaf(
    text: &str,
    filter_expr: Expr,
    func: &MetricsFn,
    by: &[FieldExpr],
    span: Span,
) -> Result<Leaf, QueryError> {
    let need = Need::of_query(&filter_expr);
    let filter = Compiled::from_query(Query {
        expr: filter_expr,
        hints: Vec::new(),
        span,
    })?
    .matching_only();
    let func = match func {
        MetricsFn::Rate => Func::Rate,
        MetricsFn::CountOverTime => Func::Count,
        MetricsFn::SumOverTime(f) => Func::Sum(f.clone()),
        MetricsFn::MinOverTime(f) => Func::Min(f.clone()),
        MetricsFn::MaxOverTime(f) => Func::Max(f.clone()),
        MetricsFn::AvgOverTime(f) => Func::Avg(f.clone()),
        MetricsFn::QuantileOverTime { field, quantiles } => {
            Func::Quantile(field.clone(), quantiles.clone())
        }
        MetricsFn::HistogramOverTime(f) => Func::Histogram(f.clone()),
        MetricsFn::Compare {
            selection,
            top_n,
            range,
        } => Func::Compare {
            selection: selection_query(selection, span)?,
            top_n: top_n.map_or(COMPARE_TOP_N, |n| usize::try_from(n).unwrap_or(0)),
            window: range.map(|(s, e)| (s.max(0) as u64, e.max(0) as u64)),
        },
    };
    let by = by
        .iter()
        .map(|f| (label_name(text, f), f.clone()))
        .collect::<Vec<_>>();
    let kind = match func {
        Func::Rate | Func::Count | Func::Compare { .. } => Kind::Count,
        Func::Sum(_) | Func::Avg(_) => Kind::Sum,
        Func::Min(_) => Kind::Min,
        Func::Max(_) => Kind::Max,
        Func::Quantile(..) | Func::Histogram(_) => Kind::Histogram,
    };
    let duration_field = func.field().is_some_and(|f| {
        matches!(
            f.kind,
            FieldExprKind::Intrinsic(
                Intrinsic::SpanDuration | Intrinsic::TraceDuration | Intrinsic::EventTimeSinceStart
            )
        )
    });
    Ok(Leaf {
        filter,
        need,
        by,
        func,
        kind,
        duration_field,
    })
}

/// `compare()`'s selection as a query of its own.
fn selection_query(selection: &SpansetFilter, span: Span) -> Result<Compiled, QueryError> {
    Compiled::from_query(Query {
        expr: Expr {
            kind: ExprKind::Filter(selection.clone()),
            span: selection.span,
        },
        hints: Vec::new(),
        span,
    })
    .map(Compiled::matching_only)
}

/// The label a `by()` field names its series with: the field as the query wrote it
/// (`status`, `span:status`, `.foo`, `resource.service.name`), as Tempo labels it.
pub(crate) fn label_name(text: &str, f: &FieldExpr) -> String {
    match text.get(f.span.start..f.span.end) {
        Some(written) if !written.trim().is_empty() => written.trim().to_owned(),
        _ => tempo_traceql::format_field_expr(f),
    }
}

/// A literal as a message shows it.
fn describe(s: &Static) -> String {
    match s {
        Static::String(s) => format!("{s:?}"),
        Static::Int(i) => i.to_string(),
        Static::Float(f) => f.to_string(),
        Static::Bool(b) => b.to_string(),
        Static::Nil => "nil".to_owned(),
        Static::Duration(d) => format!("{d}ns"),
        Static::Status(s) => s.as_str().to_owned(),
        Static::Kind(k) => k.as_str().to_owned(),
    }
}

/// Whether a trace is in the sample: its ID, a random number already, below the threshold.
pub(super) fn sampled(id: &TraceId, below: u64) -> bool {
    if below == u64::MAX {
        return true;
    }
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&id.0[8..]);
    u64::from_le_bytes(tail) < below
}

/// The number a function aggregates from a field's value: durations in seconds, except for
/// histograms and quantiles, which bucket nanoseconds (their results are in seconds).
pub(super) fn value_of(v: &Val<'_>, leaf: &Leaf) -> Option<f64> {
    match v {
        Val::Dur(d) if leaf.kind == Kind::Histogram => Some(*d as f64),
        Val::Dur(d) => Some(*d as f64 / 1e9),
        Val::Int(i) => Some(*i as f64),
        Val::Float(f) => Some(*f),
        _ => None,
    }
}

/// An exemplar's value: the span's duration in seconds for counts, else its value (in
/// seconds for durations).
pub(super) fn exemplar_value(leaf: &Leaf, value: f64) -> f64 {
    if leaf.kind == Kind::Histogram && leaf.duration_field {
        value / 1e9
    } else {
        value
    }
}
