//! columnar: metrics straight from span columns, when no trace tree is needed.
//!
//! Most metrics queries filter on the fields of each span alone (`{ status = error }`,
//! `{ resource.service.name = "api" && duration > 1s }`), group by such fields and aggregate
//! one of them. Those are evaluated here row by row over the columns a source decodes for
//! them ([`SpanColumns`]): no trace is materialized, no tree is built, strings are borrowed
//! from dictionaries, and a series is found from borrowed values without building its key.
//! Anything else (structural operators, pipelines, trace-level intrinsics, events and links,
//! `compare()`) goes through the trace evaluator.

use regex::Regex;
use tempo_traceql::{BinaryOp, ExprKind, FieldExpr, FieldExprKind, Intrinsic, Scope, UnaryOp};

use super::Exemplar;
use super::plan::{Func, Plan};
use crate::query::eval::{Compiled, kind_of, status_of};
use crate::query::source::{ColumnWant, SpanColumns};
use crate::query::value::{Val, arithmetic, compare, regex_match};

/// A field expression compiled against the columns a scan reads.
enum CExpr {
    Static(Val<'static>),
    /// Attribute `.0` of the scan's [`ColumnWant::attrs`].
    Attr(usize),
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    Not(Box<CExpr>),
    Neg(Box<CExpr>),
    And(Box<CExpr>, Box<CExpr>),
    Or(Box<CExpr>, Box<CExpr>),
    /// `=~` or `!~`; `None` when the pattern did not compile (never matches, as in the
    /// trace evaluator).
    Regex {
        lhs: Box<CExpr>,
        re: Option<Regex>,
        negate: bool,
    },
    /// `x != nil` (`present`) or `x = nil`.
    Present {
        expr: Box<CExpr>,
        present: bool,
    },
    Compare(BinaryOp, Box<CExpr>, Box<CExpr>),
    Arith(BinaryOp, Box<CExpr>, Box<CExpr>),
}

/// One leaf, compiled for columns.
struct CLeaf {
    filter: Option<CExpr>,
    by: Vec<CExpr>,
    field: Option<CExpr>,
}

/// A metrics query whose every leaf can run on columns.
pub(crate) struct ColumnarPlan {
    /// What to decode.
    pub(crate) want: ColumnWant,
    leaves: Vec<CLeaf>,
}

impl ColumnarPlan {
    /// The columnar form of `plan`, if every leaf has one; `ids` when exemplars or sampling
    /// need trace and span IDs.
    pub(crate) fn new(plan: &Plan, ids: bool) -> Option<ColumnarPlan> {
        let mut want = ColumnWant {
            ids,
            ..ColumnWant::default()
        };
        let mut leaves = Vec::with_capacity(plan.leaves.len());
        for leaf in &plan.leaves {
            if matches!(leaf.func, Func::Compare { .. }) {
                return None;
            }
            let ExprKind::Filter(f) = &leaf.filter.query.expr.kind else {
                return None;
            };
            let filter = match &f.expr {
                None => None,
                Some(e) => Some(compile(e, &leaf.filter, &mut want)?),
            };
            let by = leaf
                .by
                .iter()
                .map(|(_, e)| compile(e, &leaf.filter, &mut want))
                .collect::<Option<Vec<_>>>()?;
            let field = match leaf.func.field() {
                None => None,
                Some(e) => Some(compile(e, &leaf.filter, &mut want)?),
            };
            leaves.push(CLeaf { filter, by, field });
        }
        Some(ColumnarPlan { want, leaves })
    }
}

/// Compiles a field expression, noting what it reads; `None` for what columns do not hold.
fn compile(e: &FieldExpr, compiled: &Compiled, want: &mut ColumnWant) -> Option<CExpr> {
    let boxed = |e: &FieldExpr, want: &mut ColumnWant| compile(e, compiled, want).map(Box::new);
    Some(match &e.kind {
        FieldExprKind::Static(s) => CExpr::Static(Val::from_static(s).into_owned()),
        FieldExprKind::Attribute(a) => {
            if !matches!(a.scope, Scope::Span | Scope::Resource | Scope::None) {
                return None;
            }
            let key = (a.scope, a.name.clone());
            let i = match want.attrs.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    want.attrs.push(key);
                    want.attrs.len() - 1
                }
            };
            CExpr::Attr(i)
        }
        FieldExprKind::Intrinsic(x) => match x {
            Intrinsic::SpanName => {
                want.name = true;
                CExpr::Name
            }
            Intrinsic::SpanStatus => {
                want.status = true;
                CExpr::Status
            }
            Intrinsic::SpanStatusMessage => {
                want.status = true;
                want.status_message = true;
                CExpr::StatusMessage
            }
            Intrinsic::SpanKind => {
                want.kind = true;
                CExpr::Kind
            }
            Intrinsic::SpanDuration => {
                want.duration = true;
                CExpr::Duration
            }
            _ => return None,
        },
        FieldExprKind::Unary { op, expr } => match op {
            UnaryOp::Not => CExpr::Not(boxed(expr, want)?),
            UnaryOp::Neg => CExpr::Neg(boxed(expr, want)?),
        },
        FieldExprKind::Binary { op, lhs, rhs } => match op {
            BinaryOp::And => CExpr::And(boxed(lhs, want)?, boxed(rhs, want)?),
            BinaryOp::Or => CExpr::Or(boxed(lhs, want)?, boxed(rhs, want)?),
            BinaryOp::Regex | BinaryOp::NotRegex => {
                let re = match &rhs.kind {
                    FieldExprKind::Static(tempo_traceql::Static::String(p)) => {
                        compiled.regex(p).cloned()
                    }
                    _ => None,
                };
                CExpr::Regex {
                    lhs: boxed(lhs, want)?,
                    re,
                    negate: *op == BinaryOp::NotRegex,
                }
            }
            BinaryOp::Eq | BinaryOp::Neq if is_nil(lhs) && is_nil(rhs) => {
                CExpr::Static(Val::Bool(false))
            }
            BinaryOp::Eq | BinaryOp::Neq if is_nil(lhs) || is_nil(rhs) => {
                let other = if is_nil(rhs) { lhs } else { rhs };
                CExpr::Present {
                    expr: boxed(other, want)?,
                    present: *op == BinaryOp::Neq,
                }
            }
            BinaryOp::Eq
            | BinaryOp::Neq
            | BinaryOp::Lt
            | BinaryOp::Lte
            | BinaryOp::Gt
            | BinaryOp::Gte => CExpr::Compare(*op, boxed(lhs, want)?, boxed(rhs, want)?),
            _ => CExpr::Arith(*op, boxed(lhs, want)?, boxed(rhs, want)?),
        },
    })
}

fn is_nil(e: &FieldExpr) -> bool {
    matches!(e.kind, FieldExprKind::Static(tempo_traceql::Static::Nil))
}

/// The value of a compiled expression on span `row`, as the trace evaluator computes it.
fn eval<'c>(e: &CExpr, c: &'c dyn SpanColumns, row: usize) -> Val<'c> {
    match e {
        CExpr::Static(v) => v.clone(),
        CExpr::Attr(i) => c.attr(*i, row),
        CExpr::Name => Val::Str(std::borrow::Cow::Borrowed(c.name(row))),
        CExpr::Status => Val::Status(status_of(c.status(row))),
        CExpr::StatusMessage => Val::Str(std::borrow::Cow::Borrowed(c.status_message(row))),
        CExpr::Kind => Val::Kind(kind_of(c.kind(row))),
        CExpr::Duration => Val::Dur(c.duration(row) as i64),
        CExpr::Not(x) => match eval(x, c, row) {
            Val::Bool(b) => Val::Bool(!b),
            _ => Val::Nil,
        },
        CExpr::Neg(x) => match eval(x, c, row) {
            Val::Int(i) => Val::Int(i.wrapping_neg()),
            Val::Float(f) => Val::Float(-f),
            Val::Dur(d) => Val::Dur(d.wrapping_neg()),
            _ => Val::Nil,
        },
        CExpr::And(a, b) => Val::Bool(eval(a, c, row).truthy() && eval(b, c, row).truthy()),
        CExpr::Or(a, b) => Val::Bool(eval(a, c, row).truthy() || eval(b, c, row).truthy()),
        CExpr::Regex { lhs, re, negate } => match re {
            Some(re) => Val::Bool(regex_match(&eval(lhs, c, row), re, *negate)),
            None => Val::Bool(false),
        },
        CExpr::Present { expr, present } => Val::Bool(eval(expr, c, row).is_nil() != *present),
        CExpr::Compare(op, a, b) => Val::Bool(compare(*op, &eval(a, c, row), &eval(b, c, row))),
        CExpr::Arith(op, a, b) => arithmetic(*op, &eval(a, c, row), &eval(b, c, row)),
    }
}

/// What a scan of one source needs from the query's run.
pub(crate) struct Scan<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) columnar: &'a ColumnarPlan,
    pub(crate) grid: &'a super::Grid,
    pub(crate) stop: &'a crate::query::stop::Stop,
    pub(crate) exemplars: usize,
    pub(crate) sample_below: u64,
}

/// Adds the spans of one source's columns to the worker's series.
pub(crate) fn scan(
    s: &Scan<'_>,
    c: &dyn SpanColumns,
    leaves: &mut [super::acc::LeafAcc],
    metrics: &mut crate::query::SearchMetrics,
) {
    let n = c.len();
    metrics.inspected_spans += n as u64;
    if n > 0 {
        metrics.inspected_traces += c.trace_of(n - 1) as u64 + 1;
    }
    let mut parts: Vec<Val<'_>> = Vec::new();
    let mut last_exemplar_trace = vec![usize::MAX; s.columnar.leaves.len()];
    let mut sampled_trace: (usize, bool) = (usize::MAX, true);
    for row in 0..n {
        if row % crate::query::stop::CHECK_EVERY == 0 && row > 0 && s.stop.should_stop() {
            break;
        }
        let start = c.start(row);
        let Some(interval) = s.grid.interval_of(start) else {
            continue;
        };
        if s.sample_below != u64::MAX {
            let t = c.trace_of(row);
            if sampled_trace.0 != t {
                sampled_trace = (t, super::run::sampled(&c.trace_id(t), s.sample_below));
            }
            if !sampled_trace.1 {
                continue;
            }
        }
        for (i, (cl, leaf)) in s.columnar.leaves.iter().zip(&s.plan.leaves).enumerate() {
            if let Some(f) = &cl.filter
                && !eval(f, c, row).truthy()
            {
                continue;
            }
            let value = match &cl.field {
                None => 0.0,
                Some(f) => match super::run::value_of(&eval(f, c, row), leaf) {
                    Some(v) => v,
                    None => continue,
                },
            };
            parts.clear();
            parts.extend(cl.by.iter().map(|b| eval(b, c, row)));
            let series = leaves[i].slot_of(&parts, leaf.kind, s.grid.len);
            series.values.add(interval, value, 1.0);
            if s.exemplars > 0 && series.wants_exemplar(interval, s.exemplars) {
                let t = c.trace_of(row);
                if last_exemplar_trace[i] != t {
                    last_exemplar_trace[i] = t;
                    series.keep_exemplar(
                        interval,
                        Exemplar {
                            trace_id: c.trace_id(t),
                            span_id: c.span_id(row).to_vec(),
                            value: super::run::exemplar_value(leaf, value),
                            timestamp_ms: (start / 1_000_000) as i64,
                        },
                    );
                }
            }
        }
    }
}
