//! shape: what does each part of a query compute, and what may follow it?
//!
//! Tempo's grammar decides which pipeline-level expressions combine: spansets with
//! spanset operators, metrics queries and numbers by `+ - * /`, wrapped scalar pipelines
//! by arithmetic and comparisons; and which stages follow which. The parser asks this
//! module, and reports what does not fit as a parse error, as Tempo does. The validator
//! asks it too, for trees built by hand.

use crate::ast::*;
use crate::error::Error;

type PResult<T> = Result<T, Error>;

/// The value a pipeline-level expression produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Val {
    /// Spans: filters, spanset operators, pipelines of spanset stages, and comparisons
    /// between wrapped scalar pipelines (which select the spans of the traces that pass).
    Spanset,
    /// A number per trace: a wrapped pipeline ending in a bare aggregate, or arithmetic
    /// between such pipelines.
    Scalar,
    /// Time series: a pipeline with a metrics function, or arithmetic involving one.
    Metrics,
    /// A literal, or arithmetic between literals only.
    Static,
}

pub(crate) fn value_of(e: &Expr) -> Val {
    match &e.kind {
        ExprKind::Filter(_) | ExprKind::Spanset { .. } => Val::Spanset,
        ExprKind::Pipeline(p) => match p.stages.last().map(|s| &s.kind) {
            Some(StageKind::Scalar(_)) => Val::Scalar,
            Some(
                StageKind::Metrics(_)
                | StageKind::SecondStage { .. }
                | StageKind::MetricsFilter { .. },
            ) => Val::Metrics,
            _ => Val::Spanset,
        },
        ExprKind::Binary { op, lhs, rhs } => {
            let (l, r) = (value_of(lhs), value_of(rhs));
            if l == Val::Metrics || r == Val::Metrics {
                Val::Metrics
            } else if !op.is_arithmetic() {
                Val::Spanset
            } else if l == Val::Static && r == Val::Static {
                Val::Static
            } else {
                Val::Scalar
            }
        }
        ExprKind::Static(_) => Val::Static,
    }
}

/// A comparison between pipeline-level expressions: `({ } | count()) > 2`.
pub(crate) fn is_comparison(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Binary { op, .. } if op.is_comparison())
}

/// A pipeline whose head is metrics arithmetic: its stages are series filters and
/// `topk`/`bottomk`, and it ends the query.
pub(crate) fn is_filtered_arithmetic(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Pipeline(p) if matches!(p.head.kind, ExprKind::Binary { .. }))
}

/// What an expression is, for messages: "a metrics query".
pub(crate) fn describe_expr(e: &Expr) -> &'static str {
    if is_comparison(e) {
        return "a comparison of pipelines";
    }
    match value_of(e) {
        Val::Spanset => "a spanset",
        Val::Scalar => "a number computed by a pipeline",
        Val::Metrics => "a metrics query",
        Val::Static => "a number",
    }
}

/// Where a pipeline stands after its stages so far: which stages may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PipeState {
    /// Spans: any spanset stage, an aggregate or a metrics function.
    Spans,
    /// After a bare aggregate: nothing (it ends a wrapped pipeline).
    Aggregate,
    /// After a metrics function: `topk`/`bottomk` and series filters.
    Metrics,
}

pub(crate) fn state_after(p: &Pipeline) -> PipeState {
    match p.stages.last().map(|s| &s.kind) {
        Some(StageKind::Scalar(_)) => PipeState::Aggregate,
        Some(
            StageKind::Metrics(_) | StageKind::SecondStage { .. } | StageKind::MetricsFilter { .. },
        ) => PipeState::Metrics,
        _ => PipeState::Spans,
    }
}

/// What a stage is, for messages.
fn stage_what(s: &Stage) -> &'static str {
    match &s.kind {
        StageKind::Spanset(_) => "a spanset filter",
        StageKind::ScalarFilter { .. } => "a scalar filter",
        StageKind::Scalar(_) => "an aggregate",
        StageKind::By(_) => "`by()`",
        StageKind::Coalesce => "`coalesce()`",
        StageKind::Select(_) => "`select()`",
        StageKind::Metrics(_) => "a metrics function",
        StageKind::SecondStage { func, .. } => match func {
            SecondStageFn::TopK => "`topk()`",
            SecondStageFn::BottomK => "`bottomk()`",
        },
        StageKind::MetricsFilter { .. } => "a series filter",
    }
}

/// The whole query must select spans or compute time series: a number alone, or an
/// aggregate left without a comparison, is not a query.
pub(crate) fn check_root(e: &Expr) -> PResult<()> {
    match value_of(e) {
        Val::Spanset | Val::Metrics => Ok(()),
        Val::Scalar => {
            if let ExprKind::Pipeline(p) = &e.kind
                && let Some(s) = p.stages.last()
                && let StageKind::Scalar(agg) = &s.kind
            {
                let mut example = String::new();
                crate::format::scalar_text(&mut example, agg);
                return Err(Error::parse(
                    s.span,
                    "an aggregate alone computes a number, not spans",
                )
                .with_hint(format!("compare it, for example `{example} > 2`")));
            }
            Err(
                Error::parse(e.span, "the query computes a number, not spans")
                    .with_hint("compare it with a number, for example `({ } | count()) > 2`"),
            )
        }
        Val::Static => Err(Error::parse(e.span, "numbers alone are not a query")
            .with_hint(
                "start with a spanset filter such as `{ }`; arithmetic needs a metrics query, for example `({ } | rate()) * 60`",
            )),
    }
}

/// The state of a pipeline after stage `s`, or why `s` cannot follow.
pub(crate) fn next_state(state: PipeState, s: &Stage) -> PResult<PipeState> {
    Ok(match (state, &s.kind) {
        (
            PipeState::Spans,
            StageKind::Spanset(_)
            | StageKind::ScalarFilter { .. }
            | StageKind::By(_)
            | StageKind::Coalesce
            | StageKind::Select(_),
        ) => PipeState::Spans,
        (PipeState::Spans, StageKind::Scalar(_)) => PipeState::Aggregate,
        (PipeState::Spans, StageKind::Metrics(_))
        | (PipeState::Metrics, StageKind::SecondStage { .. } | StageKind::MetricsFilter { .. }) => {
            PipeState::Metrics
        }
        (PipeState::Spans, StageKind::SecondStage { func, .. }) => {
            return Err(Error::parse(
                s.span,
                format!("`{}()` must follow a metrics function", func.as_str()),
            )
            .with_hint(format!(
                "for example `{{ }} | rate() by (resource.service.name) | {}(10)`",
                func.as_str()
            )));
        }
        (PipeState::Spans, StageKind::MetricsFilter { .. }) => {
            return Err(Error::parse(
                s.span,
                "a series filter must follow a metrics function",
            ));
        }
        (PipeState::Metrics, _) => {
            return Err(Error::parse(
                s.span,
                format!("{} cannot follow a metrics function", stage_what(s)),
            )
            .with_hint(
                "after a metrics function, only `topk()`, `bottomk()` or a comparison with a number may follow",
            ));
        }
        (PipeState::Aggregate, _) => {
            return Err(Error::parse(
                s.span,
                format!("{} cannot follow an aggregate", stage_what(s)),
            )
            .with_hint(
                "an aggregate without a comparison ends a wrapped pipeline; to filter on it, compare it: `count() > 2`",
            ));
        }
    })
}

/// Whether `lhs op rhs` is an operation Tempo's grammar has, `lhs` and `op` having been
/// checked already.
pub(crate) fn operands_fit(op: BinaryOp, lhs: &Expr, rhs: &Expr) -> bool {
    let (lv, rv) = (value_of(lhs), value_of(rhs));
    if op.is_comparison() {
        // Between wrapped scalar pipelines, or with a number on the right.
        return match rv {
            Val::Scalar => true,
            Val::Static => matches!(rhs.kind, ExprKind::Static(_)),
            _ => false,
        };
    }
    match (lv, rv) {
        (Val::Metrics | Val::Static, Val::Metrics) => !is_filtered_arithmetic(rhs),
        (Val::Metrics, Val::Static) => true,
        // Literal arithmetic is only an operand of metrics arithmetic: the query as a
        // whole is checked at the end.
        (Val::Static, Val::Static) => true,
        (Val::Scalar, Val::Scalar) => true,
        _ => false,
    }
}

/// `op` after `lhs`, which cannot be its left operand.
#[cold]
#[inline(never)]
pub(crate) fn misplaced_binary_op(op: BinaryOp, lhs: &Expr, at: Span) -> Error {
    let op = op.as_str();
    if is_comparison(lhs) {
        return Error::parse(
            at,
            format!("`{op}` cannot follow a comparison of pipelines"),
        )
        .with_hint("a comparison of pipelines must be the whole query");
    }
    if value_of(lhs) == Val::Static {
        return Error::parse(
            at,
            format!("`{op}` needs a pipeline on its left, not a number"),
        )
        .with_hint("write the number on the right, for example `({ } | rate()) < 5`");
    }
    Error::parse(at, format!("`{op}` does not apply to spansets")).with_hint(
        "spansets combine with `&&`, `||` and structural operators such as `>>`; to compare a count, write `{ } | count() > 2`",
    )
}

/// A spanset operator after `lhs`, which is not a spanset.
#[cold]
#[inline(never)]
pub(crate) fn misplaced_spanset_op(op: SpansetOp, lhs: &Expr, at: Span) -> Error {
    let err = Error::parse(
        at,
        format!(
            "`{}` combines spansets, but its left side is {}",
            op.as_str(),
            describe_expr(lhs)
        ),
    );
    if value_of(lhs) == Val::Metrics {
        err.with_hint("metrics queries combine with `+`, `-`, `*` and `/`")
    } else if is_comparison(lhs) {
        err.with_hint("a comparison of pipelines must be the whole query")
    } else {
        err
    }
}

/// Arithmetic operator `op` after a left operand of value `lv` that it cannot follow:
/// after a series filter or `topk`/`bottomk`, or not one of `+ - * /` on a metrics query or
/// a number.
#[cold]
#[inline(never)]
pub(crate) fn misplaced_arithmetic(op: BinaryOp, lv: Val, after_filter: bool, at: Span) -> Error {
    let op = op.as_str();
    if after_filter {
        return Error::parse(
            at,
            format!("`{op}` cannot follow a series filter or `topk()`/`bottomk()`"),
        )
        .with_hint(
            "filters and `topk()` end a metrics query; to compute with a filtered query, wrap it in brackets: `({ } | rate() > 1) * 2`",
        );
    }
    let what = if lv == Val::Metrics {
        "metrics queries"
    } else {
        "literal numbers"
    };
    Error::parse(at, format!("`{op}` does not apply to {what}")).with_hint(
        "metrics arithmetic, and arithmetic on numbers in it, uses `+`, `-`, `*` and `/`",
    )
}

/// Why `lhs op rhs` is not TraceQL, `rhs` being the wrong kind of operand.
#[cold]
#[inline(never)]
pub(crate) fn operand_misfit(op: BinaryOp, lhs: &Expr, rhs: &Expr) -> Error {
    let (lv, rv) = (value_of(lhs), value_of(rhs));
    let comparison = op.is_comparison();
    let op = op.as_str();
    if is_comparison(rhs) {
        return Error::parse(
            rhs.span,
            format!("`{op}` cannot take a comparison of pipelines"),
        );
    }
    if comparison && rv == Val::Static {
        return Error::parse(
            rhs.span,
            format!(
                "`{op}` compares a number computed by a pipeline with a number, not with arithmetic"
            ),
        );
    }
    if rv == Val::Spanset {
        return Error::parse(rhs.span, format!("`{op}` does not apply to spansets"))
            .with_hint("aggregate the spans first, for example `({ } | rate())`");
    }
    if is_filtered_arithmetic(rhs) {
        return Error::parse(
            rhs.span,
            "a filtered metrics computation cannot be an operand of arithmetic",
        )
        .with_hint("filters and `topk()` end a metrics query: write them last");
    }
    let scalar = lv == Val::Scalar || rv == Val::Scalar;
    let metrics = lv == Val::Metrics || rv == Val::Metrics;
    if scalar && metrics {
        return Error::parse(
            rhs.span,
            format!("`{op}` cannot combine a metrics query with a number computed by a pipeline"),
        );
    }
    if scalar {
        return Error::parse(
            rhs.span,
            format!("`{op}` between aggregates of wrapped pipelines takes no literal numbers"),
        )
        .with_hint("compare with the number instead, for example `({ } | count()) > 2`");
    }
    Error::parse(
        rhs.span,
        format!("`{op}` cannot take {} here", describe_expr(rhs)),
    )
}

/// The right operand of spanset operator `op`, which is not a spanset.
#[cold]
#[inline(never)]
pub(crate) fn not_a_spanset(op: SpansetOp, rhs: &Expr) -> Error {
    let err = Error::parse(
        rhs.span,
        format!(
            "`{}` combines spansets, but this is {}",
            op.as_str(),
            describe_expr(rhs)
        ),
    );
    if value_of(rhs) == Val::Metrics {
        err.with_hint("metrics queries cannot be combined with spanset operators")
    } else {
        err
    }
}
