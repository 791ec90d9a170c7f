//! fields: which attributes and intrinsics does a query read?

use crate::ast::*;
use crate::lenient::{FieldRef, field_ref};

impl Query {
    /// Every attribute and intrinsic the query reads, each once, in order of
    /// first appearance: what the engine must fetch.
    ///
    /// ```
    /// let q = tempo_traceql::parse("{ span.a = 1 && duration > 1s } | avg(span.a) > 2")?;
    /// assert_eq!(q.referenced_fields().len(), 2);
    /// # Ok::<(), tempo_traceql::Error>(())
    /// ```
    pub fn referenced_fields(&self) -> Vec<FieldRef> {
        let mut out = Vec::new();
        walk_expr(&self.expr, &mut out);
        out
    }
}

fn push_field(e: &FieldExpr, out: &mut Vec<FieldRef>) {
    match &e.kind {
        FieldExprKind::Binary { lhs, rhs, .. } => {
            push_field(lhs, out);
            push_field(rhs, out);
        }
        FieldExprKind::Unary { expr, .. } => push_field(expr, out),
        FieldExprKind::Static(_) => {}
        _ => {
            if let Some(f) = field_ref(e)
                && !out.contains(&f)
            {
                out.push(f);
            }
        }
    }
}

fn walk_filter(f: &SpansetFilter, out: &mut Vec<FieldRef>) {
    if let Some(e) = &f.expr {
        push_field(e, out);
    }
}

fn walk_scalar(s: &ScalarExpr, out: &mut Vec<FieldRef>) {
    match &s.kind {
        ScalarExprKind::Aggregate { field, .. } => {
            if let Some(f) = field {
                push_field(f, out);
            }
        }
        ScalarExprKind::Static(_) => {}
        ScalarExprKind::Binary { lhs, rhs, .. } => {
            walk_scalar(lhs, out);
            walk_scalar(rhs, out);
        }
    }
}

fn walk_expr(e: &Expr, out: &mut Vec<FieldRef>) {
    match &e.kind {
        ExprKind::Filter(f) => walk_filter(f, out),
        ExprKind::Spanset { lhs, rhs, .. } | ExprKind::Binary { lhs, rhs, .. } => {
            walk_expr(lhs, out);
            walk_expr(rhs, out);
        }
        ExprKind::Static(_) => {}
        ExprKind::Pipeline(p) => {
            walk_expr(&p.head, out);
            for s in &p.stages {
                match &s.kind {
                    StageKind::Spanset(e) => walk_expr(e, out),
                    StageKind::ScalarFilter { lhs, rhs, .. } => {
                        walk_scalar(lhs, out);
                        walk_scalar(rhs, out);
                    }
                    StageKind::Scalar(s) => walk_scalar(s, out),
                    StageKind::By(f) => push_field(f, out),
                    StageKind::Select(fs) => fs.iter().for_each(|f| push_field(f, out)),
                    StageKind::Metrics(m) => {
                        if let Some(f) = m.func.field() {
                            push_field(f, out);
                        }
                        if let MetricsFn::Compare { selection, .. } = &m.func {
                            walk_filter(selection, out);
                        }
                        m.by.iter().for_each(|f| push_field(f, out));
                    }
                    StageKind::Coalesce
                    | StageKind::SecondStage { .. }
                    | StageKind::MetricsFilter { .. } => {}
                }
            }
        }
    }
}
