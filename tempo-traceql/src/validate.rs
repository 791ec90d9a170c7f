//! validate: does the query make sense, and can it run?
//!
//! Type-checks field expressions, checks regular expressions, and checks
//! that pipelines are built of stages that fit together. Reports the first
//! validation error; if there is none, the first construct that is
//! unsupported.

use crate::ast::*;
use crate::error::Error;
use crate::shape::{Val, value_of};

/// Check a parsed query.
pub(crate) fn validate(q: &Query) -> Result<(), Error> {
    let mut v = Validator { unsupported: None };
    match value_of(&q.expr) {
        Val::Spanset | Val::Metrics => {}
        Val::Scalar => {
            return Err(
                Error::validation(q.expr.span, "the query computes a number, not spans")
                    .with_hint("compare the aggregate, for example `{ } | count() > 2`"),
            );
        }
        Val::Static => {
            return Err(Error::validation(q.expr.span, "the query selects no spans")
                .with_hint("start with a spanset filter, for example `{ }`"));
        }
    }
    v.expr(&q.expr)?;
    for h in &q.hints {
        if matches!(h.value, Static::Nil | Static::Status(_) | Static::Kind(_)) {
            return Err(
                Error::validation(h.span, format!("hint `{}` has no valid value", h.key))
                    .with_hint("hint values are strings, numbers, durations or booleans"),
            );
        }
    }
    match v.unsupported {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The anchored form of a TraceQL regular expression: TraceQL matches the
/// whole value, so `=~ "foo.*"` becomes `^(?:foo.*)$`.
pub fn anchored_regex(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// Compile a TraceQL regular expression, anchored, as the engine should.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(&anchored_regex(pattern))
        .size_limit(1 << 22)
        .nest_limit(100)
        .build()
}

/// Check a pattern's syntax (cheap: nothing is compiled).
fn check_regex(pattern: &str) -> Result<(), String> {
    regex_syntax::ParserBuilder::new()
        .nest_limit(100)
        .build()
        .parse(&anchored_regex(pattern))
        .map(drop)
        .map_err(|e| e.to_string())
}

struct Validator {
    unsupported: Option<Error>,
}

fn describe_val(v: Val) -> &'static str {
    match v {
        Val::Spanset => "a spanset",
        Val::Scalar => "a number computed by a pipeline",
        Val::Metrics => "a metrics query",
        Val::Static => "a literal",
    }
}

impl Validator {
    fn unsupported(&mut self, e: Error) {
        if self.unsupported.is_none() {
            self.unsupported = Some(e);
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<(), Error> {
        match &e.kind {
            ExprKind::Filter(f) => self.filter(f),
            ExprKind::Spanset { op, lhs, rhs } => {
                for side in [lhs, rhs] {
                    let v = value_of(side);
                    if v != Val::Spanset {
                        let mut err = Error::validation(
                            side.span,
                            format!(
                                "`{}` combines spansets, but this is {}",
                                op.as_str(),
                                describe_val(v)
                            ),
                        );
                        if v == Val::Metrics {
                            err = err.with_hint(
                                "metrics queries cannot be combined with spanset operators",
                            );
                        }
                        return Err(err);
                    }
                    self.expr(side)?;
                }
                Ok(())
            }
            ExprKind::Pipeline(p) => self.pipeline(p),
            ExprKind::Binary { op, lhs, rhs } if e.is_metrics() => {
                self.metrics_arithmetic(*op, lhs, rhs)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                for side in [lhs, rhs] {
                    let v = value_of(side);
                    if v == Val::Spanset {
                        return Err(Error::validation(
                            side.span,
                            format!("`{}` needs numbers, but this is a spanset", op.as_str()),
                        )
                        .with_hint("aggregate the spanset first, for example `({ } | count())`"));
                    }
                    if let ExprKind::Static(s) = &side.kind
                        && !s.value_type().is_numeric()
                    {
                        return Err(Error::validation(
                            side.span,
                            format!(
                                "`{}` needs numbers, not {}",
                                op.as_str(),
                                s.value_type().a_name()
                            ),
                        ));
                    }
                    self.expr(side)?;
                }
                if value_of(lhs) == Val::Static && value_of(rhs) == Val::Static {
                    return Err(Error::validation(e.span, "the expression only involves literals")
                        .with_hint("compare the result of a pipeline, for example `({ } | count()) > 2`"));
                }
                self.unsupported(
                    Error::unsupported(
                        e.span,
                        "arithmetic and comparisons between wrapped pipelines are not supported",
                    )
                    .with_hint(
                        "put the comparison inside the pipeline, for example `{ } | count() > 2`",
                    ),
                );
                Ok(())
            }
            ExprKind::Static(_) => Ok(()),
        }
    }

    /// `lhs op rhs` where a side is a metrics query: `+ - * /` between metrics queries
    /// and numbers.
    fn metrics_arithmetic(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr) -> Result<(), Error> {
        if !matches!(
            op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
        ) {
            let span = lhs.span.to(rhs.span);
            let hint = if op.is_comparison() {
                "filter series with a comparison after the metrics query, as a stage: `({ } | rate()) * 2 > 10`"
            } else {
                "metrics arithmetic uses `+`, `-`, `*` and `/`"
            };
            return Err(Error::validation(
                span,
                format!("`{}` does not apply to metrics queries", op.as_str()),
            )
            .with_hint(hint));
        }
        for side in [lhs, rhs] {
            match value_of(side) {
                Val::Metrics => {
                    if let Some(span) = compare_in(side) {
                        return Err(Error::validation(
                            span,
                            "`compare()` cannot be combined with arithmetic",
                        )
                        .with_hint("`compare()` must be the whole metrics query"));
                    }
                    if matches!(&side.kind, ExprKind::Pipeline(p) if matches!(p.head.kind, ExprKind::Binary { .. }))
                    {
                        return Err(Error::validation(
                            side.span,
                            "a filtered metrics computation cannot be an operand of arithmetic",
                        )
                        .with_hint("filters and `topk()` end a metrics query: write them last"));
                    }
                    self.expr(side)?;
                }
                Val::Static => literal_arithmetic(side)?,
                v => {
                    return Err(Error::validation(
                        side.span,
                        format!(
                            "metrics arithmetic combines metrics queries and numbers, but this is {}",
                            describe_val(v)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn filter(&mut self, f: &SpansetFilter) -> Result<(), Error> {
        let Some(e) = &f.expr else {
            return Ok(());
        };
        let t = field_type(e)?;
        if !matches!(t, Type::Bool | Type::Unknown) {
            return Err(Error::validation(
                e.span,
                format!(
                    "a spanset filter needs a condition, but this is {}",
                    t.a_name()
                ),
            )
            .with_hint("for example `{ span.http.status_code = 500 }`"));
        }
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline) -> Result<(), Error> {
        let hv = value_of(&p.head);
        // A pipeline starts with spans, or is metrics arithmetic followed by series
        // filters and `topk`/`bottomk`.
        let math = hv == Val::Metrics && matches!(p.head.kind, ExprKind::Binary { .. });
        let comparison = matches!(&p.head.kind, ExprKind::Binary { op, .. } if op.is_comparison());
        if !(hv == Val::Spanset && !comparison || math) {
            return Err(Error::validation(
                p.head.span,
                format!(
                    "a pipeline starts with a spanset, but this is {}",
                    if comparison {
                        "a comparison of pipelines"
                    } else {
                        describe_val(hv)
                    }
                ),
            ));
        }
        self.expr(&p.head)?;
        let mut state = if math { Val::Metrics } else { Val::Spanset };
        let mut metrics_fn: Option<&MetricsFn> = None;
        let n = p.stages.len();
        for (i, stage) in p.stages.iter().enumerate() {
            let needs_spans = |what: &str| -> Result<(), Error> {
                if state == Val::Spanset {
                    Ok(())
                } else {
                    Err(Error::validation(
                        stage.span,
                        format!("{what} cannot follow {}", describe_val(state)),
                    )
                    .with_hint(match state {
                        Val::Metrics => "after a metrics function, only `topk()`, `bottomk()` or a comparison may follow",
                        _ => "an aggregate without a comparison must end a wrapped pipeline",
                    }))
                }
            };
            match &stage.kind {
                StageKind::Spanset(e) => {
                    needs_spans("a spanset filter")?;
                    let v = value_of(e);
                    if v != Val::Spanset {
                        return Err(Error::validation(
                            e.span,
                            format!(
                                "a pipeline stage must select spans, but this is {}",
                                describe_val(v)
                            ),
                        ));
                    }
                    self.expr(e)?;
                }
                StageKind::ScalarFilter { op, lhs, rhs } => {
                    needs_spans("a scalar filter")?;
                    let lt = scalar_type(lhs)?;
                    let rt = scalar_type(rhs)?;
                    if !has_aggregate(lhs) && !has_aggregate(rhs) {
                        return Err(Error::validation(
                            stage.span,
                            "a scalar filter must compare an aggregate",
                        )
                        .with_hint("for example `count() > 2` or `avg(duration) > 1s`"));
                    }
                    if !comparable_numbers(lt, rt) {
                        return Err(Error::validation(
                            stage.span,
                            format!(
                                "cannot compare {} with {} using `{}`",
                                lt.a_name(),
                                rt.a_name(),
                                op.as_str()
                            ),
                        ));
                    }
                }
                StageKind::Scalar(s) => {
                    needs_spans("an aggregate")?;
                    scalar_type(s)?;
                    if !has_aggregate(s) {
                        return Err(Error::validation(
                            s.span,
                            "a scalar stage must use an aggregate",
                        )
                        .with_hint("for example `count()`"));
                    }
                    if i + 1 != n {
                        return Err(Error::validation(
                            s.span,
                            "an aggregate without a comparison must end a wrapped pipeline",
                        )
                        .with_hint("compare it: `count() > 2`"));
                    }
                    state = Val::Scalar;
                }
                StageKind::By(f) => {
                    needs_spans("`by()`")?;
                    field_type(f)?;
                    if !references_span(f) {
                        return Err(Error::validation(
                            f.span,
                            "`by()` groups by a field of the span, but this is a constant",
                        )
                        .with_hint("for example `by(resource.service.name)`"));
                    }
                }
                StageKind::Coalesce => needs_spans("`coalesce()`")?,
                StageKind::Select(fields) => {
                    needs_spans("`select()`")?;
                    for f in fields {
                        field_ref(f, "select()")?;
                    }
                }
                StageKind::Metrics(m) => {
                    needs_spans("a metrics function")?;
                    self.metrics(m, stage.span)?;
                    metrics_fn = Some(&m.func);
                    state = Val::Metrics;
                }
                StageKind::SecondStage { func, limit } => {
                    if state != Val::Metrics {
                        return Err(Error::validation(
                            stage.span,
                            format!("`{}()` must follow a metrics function", func.as_str()),
                        )
                        .with_hint(format!(
                            "for example `{{ }} | rate() by (resource.service.name) | {}(10)`",
                            func.as_str()
                        )));
                    }
                    if *limit <= 0 {
                        return Err(Error::validation(
                            stage.span,
                            format!("`{}()` needs a positive number of series", func.as_str()),
                        ));
                    }
                    if matches!(metrics_fn, Some(MetricsFn::Compare { .. })) {
                        return Err(Error::validation(
                            stage.span,
                            format!("`{}()` cannot follow `compare()`", func.as_str()),
                        )
                        .with_hint(
                            "`compare()` returns the top values of each attribute already; set how many with its second argument: `compare({ status = error }, 10)`",
                        ));
                    }
                }
                StageKind::MetricsFilter { op, value } => {
                    if state != Val::Metrics {
                        return Err(Error::validation(
                            stage.span,
                            "a series filter must follow a metrics function",
                        ));
                    }
                    if matches!(metrics_fn, Some(MetricsFn::Compare { .. })) {
                        return Err(Error::validation(
                            stage.span,
                            "the results of `compare()` cannot be filtered by value",
                        )
                        .with_hint(
                            "`compare()` must be the whole metrics query; narrow its selection instead: `compare({ status = error && duration > 1s })`",
                        ));
                    }
                    if !value.value_type().is_numeric() {
                        return Err(Error::validation(
                            stage.span,
                            format!(
                                "`{}` compares series values with a number, not {}",
                                op.as_str(),
                                value.value_type().a_name()
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn metrics(&mut self, m: &MetricsAggregate, span: Span) -> Result<(), Error> {
        let name = m.func.name();
        if let Some(f) = m.func.field() {
            let t = field_type(f)?;
            if !(t.is_numeric() || t == Type::Unknown) {
                return Err(Error::validation(
                    f.span,
                    format!(
                        "`{name}()` needs a numeric field, but this is {}",
                        t.a_name()
                    ),
                )
                .with_hint(format!("for example `{name}(span:duration)`")));
            }
        }
        match &m.func {
            MetricsFn::QuantileOverTime { quantiles, .. } => {
                if let Some(q) = quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                    return Err(Error::validation(
                        span,
                        format!("quantile {q} is not between 0 and 1"),
                    )
                    .with_hint("write the 99th percentile as `.99`"));
                }
            }
            MetricsFn::Compare {
                selection,
                top_n,
                range,
            } => {
                self.filter(selection)?;
                if top_n.is_some_and(|n| n <= 0) {
                    return Err(Error::validation(
                        span,
                        "the number of values for `compare()` must be positive",
                    ));
                }
                if let Some((s, e)) = range
                    && s >= e
                {
                    return Err(Error::validation(
                        span,
                        "the time range of `compare()` must end after it starts",
                    ));
                }
                if !m.by.is_empty() {
                    return Err(
                        Error::validation(span, "`compare()` takes no `by()`").with_hint(
                            "`compare()` already breaks its results down by every attribute",
                        ),
                    );
                }
            }
            _ => {}
        }
        for f in &m.by {
            field_ref(f, "by()")?;
        }
        Ok(())
    }
}

/// The field must be an attribute or intrinsic.
fn field_ref(f: &FieldExpr, what: &str) -> Result<(), Error> {
    match f.kind {
        FieldExprKind::Attribute(_) | FieldExprKind::Intrinsic(_) => Ok(()),
        _ => Err(
            Error::validation(f.span, format!("`{what}` takes attributes or intrinsics"))
                .with_hint("for example `resource.service.name` or `span:name`"),
        ),
    }
}

/// True if `f` reads the span: it names an attribute or an intrinsic.
fn references_span(f: &FieldExpr) -> bool {
    match &f.kind {
        FieldExprKind::Attribute(_) | FieldExprKind::Intrinsic(_) => true,
        FieldExprKind::Static(_) => false,
        FieldExprKind::Binary { lhs, rhs, .. } => references_span(lhs) || references_span(rhs),
        FieldExprKind::Unary { expr, .. } => references_span(expr),
    }
}

/// The span of a `compare()` in metrics query `e`, if it has one.
fn compare_in(e: &Expr) -> Option<Span> {
    match &e.kind {
        ExprKind::Pipeline(p) => p
            .stages
            .iter()
            .find(|s| {
                matches!(
                    &s.kind,
                    StageKind::Metrics(MetricsAggregate {
                        func: MetricsFn::Compare { .. },
                        ..
                    })
                )
            })
            .map(|s| s.span)
            .or_else(|| compare_in(&p.head)),
        ExprKind::Binary { lhs, rhs, .. } => compare_in(lhs).or_else(|| compare_in(rhs)),
        _ => None,
    }
}

/// A literal operand of metrics arithmetic: a number, or `+ - * /` between numbers.
fn literal_arithmetic(e: &Expr) -> Result<(), Error> {
    match &e.kind {
        ExprKind::Static(s) if s.value_type().is_numeric() => Ok(()),
        ExprKind::Static(s) => Err(Error::validation(
            e.span,
            format!(
                "metrics arithmetic takes numbers, not {}",
                s.value_type().a_name()
            ),
        )),
        ExprKind::Binary {
            op: BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div,
            lhs,
            rhs,
        } => {
            literal_arithmetic(lhs)?;
            literal_arithmetic(rhs)
        }
        _ => Err(Error::validation(
            e.span,
            "metrics arithmetic takes metrics queries and numbers, combined by `+`, `-`, `*` and `/`",
        )),
    }
}

fn has_aggregate(s: &ScalarExpr) -> bool {
    match &s.kind {
        ScalarExprKind::Aggregate { .. } => true,
        ScalarExprKind::Static(_) => false,
        ScalarExprKind::Binary { lhs, rhs, .. } => has_aggregate(lhs) || has_aggregate(rhs),
    }
}

fn comparable_numbers(a: Type, b: Type) -> bool {
    let ok = |t: Type| t.is_numeric() || t == Type::Unknown;
    ok(a) && ok(b)
}

fn arith_result(a: Type, b: Type) -> Type {
    match (a, b) {
        (Type::Unknown, t) | (t, Type::Unknown) => t,
        (Type::Float, _) | (_, Type::Float) => Type::Float,
        (Type::Duration, _) | (_, Type::Duration) => Type::Duration,
        _ => Type::Int,
    }
}

fn scalar_type(s: &ScalarExpr) -> Result<Type, Error> {
    match &s.kind {
        ScalarExprKind::Aggregate { func, field } => match field {
            None => Ok(Type::Int),
            Some(f) => {
                let t = field_type(f)?;
                if !references_span(f) {
                    return Err(Error::validation(
                        f.span,
                        format!(
                            "`{}()` aggregates a field of the span, but this is a constant",
                            func.as_str()
                        ),
                    )
                    .with_hint(format!("for example `{}(duration)`", func.as_str())));
                }
                if t.is_numeric() || t == Type::Unknown {
                    Ok(t)
                } else {
                    Err(Error::validation(
                        f.span,
                        format!(
                            "`{}()` needs a numeric field, but this is {}",
                            func.as_str(),
                            t.a_name()
                        ),
                    )
                    .with_hint(format!("for example `{}(duration)`", func.as_str())))
                }
            }
        },
        ScalarExprKind::Static(v) => {
            let t = v.value_type();
            if t.is_numeric() {
                Ok(t)
            } else {
                Err(Error::validation(
                    s.span,
                    format!("aggregates are compared with numbers, not {}", t.a_name()),
                ))
            }
        }
        ScalarExprKind::Binary { op, lhs, rhs } => {
            let a = scalar_type(lhs)?;
            let b = scalar_type(rhs)?;
            if !comparable_numbers(a, b) {
                return Err(Error::validation(
                    s.span,
                    format!("`{}` needs numbers", op.as_str()),
                ));
            }
            Ok(arith_result(a, b))
        }
    }
}

fn is_intrinsic(e: &FieldExpr) -> Option<Intrinsic> {
    match e.kind {
        FieldExprKind::Intrinsic(i) => Some(i),
        _ => None,
    }
}

fn literal_hint(other: &FieldExpr, t: Type) -> Option<String> {
    let i = is_intrinsic(other)?;
    Some(match t {
        Type::Status => format!(
            "`{}` is one of `error`, `ok`, `unset` (no quotes)",
            i.as_str()
        ),
        Type::Kind => format!(
            "`{}` is one of `server`, `client`, `producer`, `consumer`, `internal`, `unspecified` (no quotes)",
            i.as_str()
        ),
        Type::Duration => format!("compare `{}` with a duration such as `100ms`", i.as_str()),
        Type::String => format!("compare `{}` with a string such as \"GET /\"", i.as_str()),
        Type::Int => format!("compare `{}` with an integer", i.as_str()),
        _ => return None,
    })
}

/// The type of a field expression, or the first type error in it.
pub(crate) fn field_type(e: &FieldExpr) -> Result<Type, Error> {
    match &e.kind {
        FieldExprKind::Static(v) => Ok(v.value_type()),
        FieldExprKind::Attribute(_) => Ok(Type::Unknown),
        FieldExprKind::Intrinsic(i) => Ok(i.value_type()),
        FieldExprKind::Unary { op, expr } => {
            let t = field_type(expr)?;
            match op {
                UnaryOp::Not if matches!(t, Type::Bool | Type::Unknown) => Ok(Type::Bool),
                UnaryOp::Not => Err(Error::validation(
                    expr.span,
                    format!("`!` needs a boolean, but this is {}", t.a_name()),
                )
                .with_hint("negate a condition: `!(span.foo = 1)`")),
                UnaryOp::Neg if t.is_numeric() || t == Type::Unknown => Ok(t),
                UnaryOp::Neg => Err(Error::validation(
                    expr.span,
                    format!("`-` needs a number, but this is {}", t.a_name()),
                )),
            }
        }
        FieldExprKind::Binary { op, lhs, rhs } => {
            let lt = field_type(lhs)?;
            let rt = field_type(rhs)?;
            let op = *op;
            if op.is_logical() {
                for (side, t) in [(lhs, lt), (rhs, rt)] {
                    if !matches!(t, Type::Bool | Type::Unknown) {
                        return Err(Error::validation(
                            side.span,
                            format!(
                                "`{}` joins conditions, but this is {}",
                                op.as_str(),
                                t.a_name()
                            ),
                        )
                        .with_hint("write a comparison, for example `span.foo = 1`"));
                    }
                }
                return Ok(Type::Bool);
            }
            if op.is_arithmetic() {
                for (side, t) in [(lhs, lt), (rhs, rt)] {
                    if !(t.is_numeric() || t == Type::Unknown) {
                        return Err(Error::validation(
                            side.span,
                            format!(
                                "`{}` needs numbers, but this is {}",
                                op.as_str(),
                                t.a_name()
                            ),
                        ));
                    }
                }
                return Ok(arith_result(lt, rt));
            }
            if matches!(op, BinaryOp::Regex | BinaryOp::NotRegex) {
                if !matches!(lt, Type::String | Type::Unknown) {
                    return Err(Error::validation(
                        lhs.span,
                        format!(
                            "`{}` matches strings, but this is {}",
                            op.as_str(),
                            lt.a_name()
                        ),
                    ));
                }
                let FieldExprKind::Static(Static::String(pattern)) = &rhs.kind else {
                    return Err(Error::validation(
                        rhs.span,
                        format!(
                            "the right side of `{}` must be a string holding a regular expression",
                            op.as_str()
                        ),
                    )
                    .with_hint("for example `span.http.route =~ \"/api/.*\"`"));
                };
                if let Err(msg) = check_regex(pattern) {
                    let first = msg
                        .lines()
                        .rev()
                        .find(|l| l.starts_with("error:"))
                        .unwrap_or("invalid syntax");
                    return Err(Error::validation(
                        rhs.span,
                        format!(
                            "invalid regular expression: {}",
                            first.trim_start_matches("error:").trim()
                        ),
                    )
                    .with_hint("TraceQL uses RE2 syntax and matches the whole value"));
                }
                return Ok(Type::Bool);
            }
            // Comparisons.
            if lt == Type::Nil || rt == Type::Nil {
                if !matches!(op, BinaryOp::Eq | BinaryOp::Neq) {
                    return Err(Error::validation(
                        e.span,
                        format!(
                            "`nil` can only be tested with `=` or `!=`, not `{}`",
                            op.as_str()
                        ),
                    ));
                }
                // `nil = nil` and `nil != nil` are conditions (Tempo takes both as false).
                if lt == Type::Nil && rt == Type::Nil {
                    return Ok(Type::Bool);
                }
                let other = if lt == Type::Nil { rhs } else { lhs };
                return match &other.kind {
                    // Whether the span has the field.
                    FieldExprKind::Attribute(_) | FieldExprKind::Intrinsic(_) => Ok(Type::Bool),
                    FieldExprKind::Static(v) => Err(Error::validation(
                        other.span,
                        format!(
                            "only an attribute or an intrinsic can be tested against `nil`, not {}",
                            v.value_type().a_name()
                        ),
                    )
                    .with_hint("`nil` tests whether a field exists, for example `span.foo != nil`")),
                    _ => Err(Error::validation(
                        other.span,
                        "only an attribute or an intrinsic can be tested against `nil`, not an expression",
                    )
                    .with_hint("`nil` tests whether a field exists, for example `span.foo != nil`")),
                };
            }
            let compatible = lt == Type::Unknown
                || rt == Type::Unknown
                || lt == rt
                || (lt.is_numeric() && rt.is_numeric());
            if !compatible {
                let mut err = Error::validation(
                    e.span,
                    format!("cannot compare {} with {}", lt.a_name(), rt.a_name()),
                );
                if let Some(h) = literal_hint(lhs, lt).or_else(|| literal_hint(rhs, rt)) {
                    err = err.with_hint(h);
                }
                return Err(err);
            }
            let ordered = matches!(
                op,
                BinaryOp::Lt | BinaryOp::Lte | BinaryOp::Gt | BinaryOp::Gte
            );
            if ordered {
                for (side, t) in [(lhs, lt), (rhs, rt)] {
                    if matches!(t, Type::Bool | Type::Status | Type::Kind) {
                        return Err(Error::validation(
                            side.span,
                            format!(
                                "{} has no order: `{}` does not apply",
                                t.a_name(),
                                op.as_str()
                            ),
                        )
                        .with_hint("use `=` or `!=`"));
                    }
                }
            }
            Ok(Type::Bool)
        }
    }
}
