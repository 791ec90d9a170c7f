//! format: how is this query written canonically?
//!
//! Canonical text: scoped intrinsic names, single spaces around binary
//! operators, `{ }` contents padded, the fewest parentheses that keep the
//! tree, runs of `&&` and `||` written flat, durations in compound form
//! (`1h30m`). `parse(format(q)) == q`.

use std::fmt::Write;

use crate::ast::*;
use crate::lexer::ends_attribute_name;

/// Format a query as canonical TraceQL.
///
/// `parse_unchecked(&format(&q)) == Ok(q)` for every query the parser
/// produces. Trees built by hand round-trip when they are in the parser's
/// normal form: a pipeline's head is not a pipeline, a metrics filter
/// follows a metrics function or `topk`/`bottomk`, `>`/`<` between two
/// spansets are [`SpansetOp::Child`]/[`SpansetOp::Parent`] (the text cannot
/// tell them apart from a comparison), and a run of `&&` (or of `||`) is
/// grouped as the parser groups it: left to right up to eight operands,
/// in two balanced halves beyond (the text is flat, and the operators
/// associative).
pub fn format(q: &Query) -> String {
    let mut out = String::with_capacity(64);
    expr(&mut out, &q.expr);
    if !q.hints.is_empty() {
        out.push_str(" with(");
        for (i, h) in q.hints.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&h.key);
            out.push('=');
            static_value(&mut out, &h.value);
        }
        out.push(')');
    }
    out
}

/// Format a field expression.
pub fn format_field_expr(e: &FieldExpr) -> String {
    let mut out = String::new();
    field(&mut out, e);
    out
}

const ATOM: u8 = 10;

fn expr_prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Filter(_) | ExprKind::Static(_) => ATOM,
        ExprKind::Spanset { op, .. } => match op {
            SpansetOp::Or => 1,
            SpansetOp::And => 2,
            _ => 3,
        },
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Pipeline(_) => 0,
    }
}

fn expr_operand(out: &mut String, e: &Expr, parent: u8, strict: bool) {
    let p = expr_prec(e);
    if p < parent || (strict && p == parent) || matches!(e.kind, ExprKind::Pipeline(_)) {
        out.push('(');
        expr(out, e);
        out.push(')');
    } else {
        expr(out, e);
    }
}

fn expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Filter(f) => filter(out, f),
        ExprKind::Spanset { op, lhs, rhs } => {
            let p = expr_prec(e);
            expr_operand(out, lhs, p, false);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            // A run of `&&` (`||`) is written flat, whatever its grouping: the parser
            // rebuilds the same tree from the flat text.
            let same_run = matches!(op, SpansetOp::And | SpansetOp::Or)
                && matches!(&rhs.kind, ExprKind::Spanset { op: o, .. } if o == op);
            expr_operand(out, rhs, p, !same_run);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            let right = op.right_assoc();
            expr_operand(out, lhs, p, right);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            expr_operand(out, rhs, p, !right);
        }
        ExprKind::Pipeline(p) => {
            // The head never needs brackets unless it is itself a pipeline.
            if matches!(p.head.kind, ExprKind::Pipeline(_)) {
                out.push('(');
                expr(out, &p.head);
                out.push(')');
            } else {
                expr(out, &p.head);
            }
            for s in &p.stages {
                if matches!(s.kind, StageKind::MetricsFilter { .. }) {
                    out.push(' ');
                } else {
                    out.push_str(" | ");
                }
                stage(out, s);
            }
        }
        ExprKind::Static(v) => static_value(out, v),
    }
}

fn filter(out: &mut String, f: &SpansetFilter) {
    match &f.expr {
        None => out.push_str("{}"),
        Some(e) => {
            out.push_str("{ ");
            field(out, e);
            out.push_str(" }");
        }
    }
}

fn fields(out: &mut String, fs: &[FieldExpr]) {
    for (i, f) in fs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        field(out, f);
    }
}

fn stage(out: &mut String, s: &Stage) {
    match &s.kind {
        StageKind::Spanset(e) => {
            if matches!(e.kind, ExprKind::Pipeline(_) | ExprKind::Static(_)) {
                out.push('(');
                expr(out, e);
                out.push(')');
            } else {
                expr(out, e);
            }
        }
        StageKind::ScalarFilter { op, lhs, rhs } => {
            scalar(out, lhs, 0, false);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            scalar(out, rhs, 0, false);
        }
        StageKind::Scalar(e) => scalar(out, e, 0, false),
        StageKind::By(f) => {
            out.push_str("by(");
            field(out, f);
            out.push(')');
        }
        StageKind::Coalesce => out.push_str("coalesce()"),
        StageKind::Select(fs) => {
            out.push_str("select(");
            fields(out, fs);
            out.push(')');
        }
        StageKind::Metrics(m) => {
            out.push_str(m.func.name());
            out.push('(');
            match &m.func {
                MetricsFn::Rate | MetricsFn::CountOverTime => {}
                MetricsFn::SumOverTime(f)
                | MetricsFn::MinOverTime(f)
                | MetricsFn::MaxOverTime(f)
                | MetricsFn::AvgOverTime(f)
                | MetricsFn::HistogramOverTime(f) => field(out, f),
                MetricsFn::QuantileOverTime {
                    field: f,
                    quantiles,
                } => {
                    field(out, f);
                    for q in quantiles {
                        out.push_str(", ");
                        float(out, *q);
                    }
                }
                MetricsFn::Compare {
                    selection,
                    top_n,
                    range,
                } => {
                    filter(out, selection);
                    if let Some(n) = top_n {
                        let _ = write!(out, ", {n}");
                        if let Some((s, e)) = range {
                            let _ = write!(out, ", {s}, {e}");
                        }
                    }
                }
            }
            out.push(')');
            if !m.by.is_empty() {
                out.push_str(" by (");
                fields(out, &m.by);
                out.push(')');
            }
        }
        StageKind::SecondStage { func, limit } => {
            let _ = write!(out, "{}({limit})", func.as_str());
        }
        StageKind::MetricsFilter { op, value } => {
            out.push_str(op.as_str());
            out.push(' ');
            static_value(out, value);
        }
    }
}

/// Write a scalar expression (for messages).
pub(crate) fn scalar_text(out: &mut String, e: &ScalarExpr) {
    scalar(out, e, 0, false);
}

fn scalar_prec(e: &ScalarExpr) -> u8 {
    match &e.kind {
        ScalarExprKind::Binary { op, .. } => op.precedence(),
        _ => ATOM,
    }
}

fn scalar(out: &mut String, e: &ScalarExpr, parent: u8, strict: bool) {
    let p = scalar_prec(e);
    let paren = p < parent || (strict && p == parent);
    if paren {
        out.push('(');
    }
    match &e.kind {
        ScalarExprKind::Aggregate { func, field: f } => {
            out.push_str(func.as_str());
            out.push('(');
            if let Some(f) = f {
                field(out, f);
            }
            out.push(')');
        }
        ScalarExprKind::Static(v) => static_value(out, v),
        ScalarExprKind::Binary { op, lhs, rhs } => {
            let right = op.right_assoc();
            scalar(out, lhs, p, right);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            scalar(out, rhs, p, !right);
        }
    }
    if paren {
        out.push(')');
    }
}

fn field_prec(e: &FieldExpr) -> u8 {
    match &e.kind {
        FieldExprKind::Binary { op, .. } => op.precedence(),
        FieldExprKind::Unary { .. } => 8,
        _ => ATOM,
    }
}

fn field_operand(out: &mut String, e: &FieldExpr, parent: u8, strict: bool) {
    let p = field_prec(e);
    if p < parent || (strict && p == parent) {
        out.push('(');
        field(out, e);
        out.push(')');
    } else {
        field(out, e);
    }
}

fn field(out: &mut String, e: &FieldExpr) {
    match &e.kind {
        FieldExprKind::Static(v) => static_value(out, v),
        FieldExprKind::Attribute(a) => attribute(out, a),
        FieldExprKind::Intrinsic(i) => out.push_str(i.as_str()),
        FieldExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            let right = op.right_assoc();
            field_operand(out, lhs, p, right);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            // A run of `&&` (`||`) is written flat, whatever its grouping: the parser
            // rebuilds the same tree from the flat text.
            let same_run = op.is_logical()
                && matches!(&rhs.kind, FieldExprKind::Binary { op: o, .. } if o == op);
            field_operand(out, rhs, p, !right && !same_run);
        }
        FieldExprKind::Unary { op, expr } => {
            out.push(match op {
                UnaryOp::Not => '!',
                UnaryOp::Neg => '-',
            });
            let literal_number = matches!(
                expr.kind,
                FieldExprKind::Static(Static::Int(_) | Static::Float(_) | Static::Duration(_))
            );
            if matches!(expr.kind, FieldExprKind::Binary { .. }) || literal_number {
                out.push('(');
                field(out, expr);
                out.push(')');
            } else {
                field(out, expr);
            }
        }
    }
}

/// Write an attribute reference.
pub(crate) fn attribute(out: &mut String, a: &Attribute) {
    out.push_str(a.scope.prefix());
    let quote = a.name.is_empty()
        || a.name.chars().any(ends_attribute_name)
        || (a.scope == Scope::None && a.name.starts_with(|c: char| c.is_ascii_digit()));
    let bare = !quote;
    if bare {
        out.push_str(&a.name);
    } else {
        string(out, &a.name);
    }
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn float(out: &mut String, f: f64) {
    let _ = write!(out, "{f:?}");
}

/// Write a literal.
pub(crate) fn static_value(out: &mut String, v: &Static) {
    match v {
        Static::String(s) => string(out, s),
        Static::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Static::Float(f) => float(out, *f),
        Static::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Static::Nil => out.push_str("nil"),
        Static::Duration(ns) => duration(out, *ns),
        Static::Status(s) => out.push_str(s.as_str()),
        Static::Kind(k) => out.push_str(k.as_str()),
    }
}

/// Write a duration in compound form: `1h30m`, `1s500ms`, `0s`.
pub(crate) fn duration(out: &mut String, ns: i64) {
    if ns == 0 {
        out.push_str("0s");
        return;
    }
    if ns < 0 {
        out.push('-');
    }
    let mut rest = ns.unsigned_abs();
    const PARTS: [(&str, u64); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    for (unit, size) in PARTS {
        let n = rest / size;
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
            rest %= size;
        }
    }
}

/// An indented tree of the query, one node a line.
pub fn explain(q: &Query) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Query");
    expr_tree(&mut out, &q.expr, 1);
    for h in &q.hints {
        let mut v = String::new();
        static_value(&mut v, &h.value);
        line(&mut out, 1, &format!("Hint {} = {v}", h.key));
    }
    out
}

fn line(out: &mut String, depth: usize, text: &str) {
    for _ in 0..depth {
        out.push_str("  ");
    }
    out.push_str(text);
    out.push('\n');
}

fn expr_tree(out: &mut String, e: &Expr, d: usize) {
    match &e.kind {
        ExprKind::Filter(f) => filter_tree(out, f, d),
        ExprKind::Spanset { op, lhs, rhs } => {
            let kind = if op.is_structural() {
                "Structural"
            } else {
                "SpansetOp"
            };
            line(out, d, &format!("{kind} {}", op.as_str()));
            expr_tree(out, lhs, d + 1);
            expr_tree(out, rhs, d + 1);
        }
        ExprKind::Pipeline(p) => {
            line(out, d, "Pipeline");
            expr_tree(out, &p.head, d + 1);
            for s in &p.stages {
                stage_tree(out, s, d + 1);
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            line(out, d, &format!("Binary {}", op.as_str()));
            expr_tree(out, lhs, d + 1);
            expr_tree(out, rhs, d + 1);
        }
        ExprKind::Static(v) => {
            let mut s = String::new();
            static_value(&mut s, v);
            line(out, d, &format!("Static {s}"));
        }
    }
}

fn filter_tree(out: &mut String, f: &SpansetFilter, d: usize) {
    line(out, d, "SpansetFilter");
    if let Some(e) = &f.expr {
        field_tree(out, e, d + 1);
    }
}

fn stage_tree(out: &mut String, s: &Stage, d: usize) {
    match &s.kind {
        StageKind::Spanset(e) => {
            line(out, d, "Stage spanset");
            expr_tree(out, e, d + 1);
        }
        StageKind::ScalarFilter { op, lhs, rhs } => {
            line(out, d, &format!("ScalarFilter {}", op.as_str()));
            scalar_tree(out, lhs, d + 1);
            scalar_tree(out, rhs, d + 1);
        }
        StageKind::Scalar(e) => {
            line(out, d, "Scalar");
            scalar_tree(out, e, d + 1);
        }
        StageKind::By(f) => {
            line(out, d, "By");
            field_tree(out, f, d + 1);
        }
        StageKind::Coalesce => line(out, d, "Coalesce"),
        StageKind::Select(fs) => {
            line(out, d, "Select");
            for f in fs {
                field_tree(out, f, d + 1);
            }
        }
        StageKind::Metrics(m) => {
            line(out, d, &format!("Metrics {}", m.func.name()));
            if let Some(f) = m.func.field() {
                field_tree(out, f, d + 1);
            }
            match &m.func {
                MetricsFn::QuantileOverTime { quantiles, .. } => {
                    let qs: Vec<String> = quantiles.iter().map(|q| format!("{q:?}")).collect();
                    line(out, d + 1, &format!("Quantiles {}", qs.join(", ")));
                }
                MetricsFn::Compare {
                    selection,
                    top_n,
                    range,
                } => {
                    filter_tree(out, selection, d + 1);
                    if let Some(n) = top_n {
                        line(out, d + 1, &format!("TopN {n}"));
                    }
                    if let Some((s, e)) = range {
                        line(out, d + 1, &format!("Range {s} {e}"));
                    }
                }
                _ => {}
            }
            if !m.by.is_empty() {
                line(out, d + 1, "By");
                for f in &m.by {
                    field_tree(out, f, d + 2);
                }
            }
        }
        StageKind::SecondStage { func, limit } => {
            line(out, d, &format!("SecondStage {}({limit})", func.as_str()));
        }
        StageKind::MetricsFilter { op, value } => {
            let mut s = String::new();
            static_value(&mut s, value);
            line(out, d, &format!("MetricsFilter {} {s}", op.as_str()));
        }
    }
}

fn scalar_tree(out: &mut String, e: &ScalarExpr, d: usize) {
    match &e.kind {
        ScalarExprKind::Aggregate { func, field: f } => {
            line(out, d, &format!("Aggregate {}", func.as_str()));
            if let Some(f) = f {
                field_tree(out, f, d + 1);
            }
        }
        ScalarExprKind::Static(v) => {
            let mut s = String::new();
            static_value(&mut s, v);
            line(out, d, &format!("Static {s}"));
        }
        ScalarExprKind::Binary { op, lhs, rhs } => {
            line(out, d, &format!("Binary {}", op.as_str()));
            scalar_tree(out, lhs, d + 1);
            scalar_tree(out, rhs, d + 1);
        }
    }
}

fn field_tree(out: &mut String, e: &FieldExpr, d: usize) {
    match &e.kind {
        FieldExprKind::Static(v) => {
            let mut s = String::new();
            static_value(&mut s, v);
            line(out, d, &format!("Static {s} ({})", v.value_type().name()));
        }
        FieldExprKind::Attribute(a) => {
            let mut s = String::new();
            attribute(&mut s, a);
            line(
                out,
                d,
                &format!("Attribute {s} (scope {:?}, name {:?})", a.scope, a.name),
            );
        }
        FieldExprKind::Intrinsic(i) => line(out, d, &format!("Intrinsic {}", i.as_str())),
        FieldExprKind::Binary { op, lhs, rhs } => {
            line(out, d, &format!("Binary {}", op.as_str()));
            field_tree(out, lhs, d + 1);
            field_tree(out, rhs, d + 1);
        }
        FieldExprKind::Unary { op, expr } => {
            line(
                out,
                d,
                &format!("Unary {}", if *op == UnaryOp::Not { "!" } else { "-" }),
            );
            field_tree(out, expr, d + 1);
        }
    }
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format(self))
    }
}
